// Package manifests_test checks the deployment files in deploy/ as the tools
// that read them would: every Kubernetes object decodes strictly into its
// k8s.io/api type (an unknown or misspelt field fails), the objects of
// custom resources without a Go type here (KEDA, the Prometheus Operator)
// against the fields their documentation lists, kustomize builds the
// kustomization when a kustomize is installed, and promtool accepts the
// Prometheus configuration as shipped.
//
// It is a test-only package so that k8s.io/api, a large module, is linked
// into this test binary and nothing else (deps_test.go: no findash package
// may import it).
package manifests_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// deployDir is deploy/ from this package's directory.
const deployDir = "../../deploy"

// k8sTypes maps apiVersion/kind to a new value of its Go type.
var k8sTypes = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	// Custom resources: no Go type is imported for them (KEDA's and the
	// Prometheus Operator's modules pull in controller-runtime); crds.go
	// holds the fields their documentation lists.
	"keda.sh/v1alpha1/ScaledObject":           func() any { return &scaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication":  func() any { return &triggerAuthentication{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &serviceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &prometheusRule{} },
}

// notObjects are YAML files under deploy/k8s that are not Kubernetes
// objects (Helm values), with what they are.
var notObjects = map[string]string{
	"k8s/nats-values.yaml":                       "Helm values of the NATS chart",
	"k8s/optional/prometheus-adapter-rules.yaml": "Helm values of prometheus-adapter (checked by TestAdapterRules)",
	"k8s/kustomization.yaml":                     "the kustomization (checked by TestKustomizeBuild)",
}

// object is one document of a manifest file.
type object struct {
	file       string // relative to deploy/
	idx        int    // document index in the file
	doc        []byte
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func (o object) String() string {
	return fmt.Sprintf("%s#%d %s/%s", o.file, o.idx, o.Kind, o.Metadata.Name)
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// objects reads every Kubernetes object under deploy/k8s.
func objects(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "k8s", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(deployDir, "k8s", "optional", "*.yaml"))
	files = append(files, more...)
	var objs []object
	for _, f := range files {
		rel, _ := filepath.Rel(deployDir, f)
		if _, skip := notObjects[rel]; skip {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(b), -1) {
			o := object{file: rel, idx: i, doc: []byte(doc)}
			if err := yaml.Unmarshal(o.doc, &o); err != nil {
				t.Errorf("%s#%d: not YAML: %v", rel, i, err)
				continue
			}
			if o.Kind == "" && o.APIVersion == "" {
				if strings.TrimSpace(stripComments(doc)) != "" {
					t.Errorf("%s#%d: a document that is not a Kubernetes object (no apiVersion, kind)", rel, i)
				}
				continue
			}
			objs = append(objs, o)
		}
	}
	if len(objs) < 20 {
		t.Fatalf("found only %d objects under deploy/k8s; the reader is broken", len(objs))
	}
	return objs
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestManifestsDecodeStrictly decodes every object under deploy/k8s into its
// type with unknown and duplicate fields refused. An object of a kind the
// table does not know fails: every object is checked.
func TestManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, o := range objects(t) {
		mk, ok := k8sTypes[o.APIVersion+"/"+o.Kind]
		if !ok {
			t.Errorf("%s: apiVersion %s kind %s has no type in k8sTypes: add it", o, o.APIVersion, o.Kind)
			continue
		}
		v := mk()
		if err := yaml.UnmarshalStrict(o.doc, v); err != nil {
			t.Errorf("%s: %v", o, err)
			continue
		}
		if c, ok := v.(interface{ check() error }); ok {
			if err := c.check(); err != nil {
				t.Errorf("%s: %v", o, err)
			}
		}
		kinds[o.Kind]++
	}
	t.Logf("decoded strictly: %v", kinds)
}

// TestStrictDecodeRefusesUnknownFields shows the check can fail: a misspelt
// field of a Deployment, and one of a ScaledObject, are refused.
func TestStrictDecodeRefusesUnknownFields(t *testing.T) {
	for _, c := range []struct {
		key, doc string
	}{
		{"apps/v1/Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n"},
		{"apps/v1/Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          imagePullPolicy: IfNotPresent\n          resource: {}\n"},
		{"keda.sh/v1alpha1/ScaledObject", "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  scaleTargetRef: {name: a}\n  maxReplicas: 3\n  triggers: [{type: cpu, metadata: {value: \"50\"}}]\n"},
	} {
		if err := yaml.UnmarshalStrict([]byte(c.doc), k8sTypes[c.key]()); err == nil {
			t.Errorf("%s with an unknown field decoded without error:\n%s", c.key, c.doc)
		}
	}
	// A nats-jetstream trigger with a metadata key KEDA does not know.
	var so scaledObject
	bad := "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  scaleTargetRef: {name: a}\n  triggers:\n    - type: nats-jetstream\n      metadata: {natsServerMonitoringEndpoint: n:8222, account: $G, stream: S, consumer: c, lagTreshold: \"10\"}\n"
	if err := yaml.UnmarshalStrict([]byte(bad), &so); err != nil {
		t.Fatal(err)
	}
	if err := so.check(); err == nil {
		t.Error("a nats-jetstream trigger with a misspelt metadata key passed check")
	}
}

// TestKustomizeBuild builds deploy/k8s with kustomize (or kubectl
// kustomize) when one is installed; CI's machine may have neither, and then
// the strict decode above is the check.
func TestKustomizeBuild(t *testing.T) {
	var cmd *exec.Cmd
	switch {
	case have("kustomize"):
		cmd = exec.Command("kustomize", "build", filepath.Join(deployDir, "k8s"))
	case have("kubectl"):
		cmd = exec.Command("kubectl", "kustomize", filepath.Join(deployDir, "k8s"))
	default:
		t.Skip("neither kustomize nor kubectl is installed")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	// The built output decodes strictly too (kustomize adds labels and the
	// namespace; a transformer that wrote a bad field would show here).
	n := 0
	for i, doc := range docSep.Split(string(out), -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil || o.Kind == "" {
			continue
		}
		mk, ok := k8sTypes[o.APIVersion+"/"+o.Kind]
		if !ok {
			t.Errorf("kustomize output #%d: unknown %s/%s", i, o.APIVersion, o.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), mk()); err != nil {
			t.Errorf("kustomize output #%d %s/%s: %v", i, o.Kind, o.Metadata.Name, err)
		}
		n++
	}
	if n < 15 {
		t.Fatalf("kustomize built only %d objects", n)
	}
}

// TestPrometheusConfig runs promtool on deploy/prometheus as shipped (the
// rule file is found relative to the configuration, as Prometheus does).
// CI installs promtool; elsewhere the test skips unless FINDASH_TEST_REQUIRE=1.
func TestPrometheusConfig(t *testing.T) {
	if !have("promtool") {
		if os.Getenv("FINDASH_TEST_REQUIRE") == "1" {
			t.Fatal("promtool is not installed (Debian: prometheus) and FINDASH_TEST_REQUIRE=1")
		}
		t.Skip("promtool is not installed (Debian: prometheus)")
	}
	for _, args := range [][]string{
		{"check", "config", filepath.Join(deployDir, "prometheus", "prometheus.yml")},
		{"check", "rules", filepath.Join(deployDir, "prometheus", "alerts.yaml")},
	} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func have(tool string) bool {
	_, err := exec.LookPath(tool)
	return err == nil
}

// TestAdapterRules decodes the prometheus-adapter rules strictly (the fields
// of its documented rule format) and checks that every custom metric an HPA
// asks for is one a rule serves.
func TestAdapterRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "k8s", "optional", "prometheus-adapter-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v adapterValues
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range v.Rules.Custom {
		if r.SeriesQuery == "" || r.MetricsQuery == "" || r.Name.As == "" {
			t.Errorf("rule %+v lacks seriesQuery, metricsQuery or name.as", r)
		}
		served[r.Name.As] = true
	}
	for _, o := range objects(t) {
		if o.Kind != "HorizontalPodAutoscaler" {
			continue
		}
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := yaml.UnmarshalStrict(o.doc, &h); err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.PodsMetricSourceType && !served[m.Pods.Metric.Name] {
				t.Errorf("%s scales on the pods metric %s, which no prometheus-adapter rule serves", o, m.Pods.Metric.Name)
			}
		}
	}
}

// scalingFiles are the manifests that hold scaling numbers.
var scalingFiles = []string{"k8s/hpa.yaml", "k8s/optional/keda-worker.yaml", "k8s/optional/keda-ingest.yaml"}

// TestEveryNumberCitesABenchmark: each capacity number (HPA and
// ScaledObject targets, maximum replicas) carries a comment naming the benchmark it comes
// from, and docs/stages.md cites that benchmark.
func TestEveryNumberCitesABenchmark(t *testing.T) {
	stages, err := os.ReadFile(filepath.Join(deployDir, "..", "docs", "stages.md"))
	if err != nil {
		t.Fatal(err)
	}
	cite := regexp.MustCompile(`bench: (docs/benchmarks/[a-z0-9-]+\.md)`)
	// minReplicas is availability (one pod drains while another serves),
	// not capacity: it needs no benchmark.
	number := regexp.MustCompile(`(maxReplicas|maxReplicaCount|averageValue|averageUtilization|lagThreshold|threshold|targetValue):`)
	for _, f := range scalingFiles {
		b, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !number.MatchString(line) {
				continue
			}
			m := cite.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s:%d: %q cites no benchmark (a comment \"bench: docs/benchmarks/….md …\")", f, i+1, strings.TrimSpace(line))
				continue
			}
			if !bytes.Contains(stages, []byte(strings.TrimPrefix(m[1], "docs/"))) {
				t.Errorf("%s:%d cites %s, which docs/stages.md does not", f, i+1, m[1])
			}
			if _, err := os.Stat(filepath.Join(deployDir, "..", m[1])); err != nil {
				t.Errorf("%s:%d cites %s: %v", f, i+1, m[1], err)
			}
		}
	}
}
