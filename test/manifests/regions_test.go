package manifests_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/findash/findash/internal/config"
)

// regionsDir holds the two-region overlays of deploy/k8s (decision 0036).
var regionsDir = filepath.Join(deployDir, "regions")

// TestRegionPatchesDecodeStrictly decodes the overlays' patches (partial
// objects) strictly into their types, as TestManifestsDecodeStrictly does
// for the base: a misspelt field in a patch would otherwise reach the
// cluster only as a silently ignored key.
func TestRegionPatchesDecodeStrictly(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(regionsDir, "*", "*.yaml"))
	n := 0
	for _, f := range files {
		switch filepath.Base(f) {
		case "kustomization.yaml", "nats-values.yaml": // checked by TestRegionOverlays
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var o object
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		mk, ok := k8sTypes[o.APIVersion+"/"+o.Kind]
		if !ok {
			t.Errorf("%s: %s/%s has no type in k8sTypes", f, o.APIVersion, o.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict(b, mk()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("decoded only %d region patches under %s", n, regionsDir)
	}
}

// TestRegionOverlays builds both overlays with kustomize (or kubectl
// kustomize) and checks them as an operator would need them: every object
// decodes strictly; region a has the workers and the migrate Job, region b
// has neither and mirrors a's log; both split the log alike (decision
// 0044); and every Deployment's environment (ConfigMap, Secret and its own
// env) is a configuration findash accepts — config.Load refuses the worker
// role in a mirror region, so a region b that kept its workers fails here.
// Skips when neither kustomize nor kubectl is installed, unless
// FINDASH_TEST_REQUIRE=1.
func TestRegionOverlays(t *testing.T) {
	build := func(dir string) []byte {
		var cmd *exec.Cmd
		switch {
		case have("kustomize"):
			cmd = exec.Command("kustomize", "build", dir)
		case have("kubectl"):
			cmd = exec.Command("kubectl", "kustomize", dir)
		default:
			if os.Getenv("FINDASH_TEST_REQUIRE") == "1" {
				t.Fatal("neither kustomize nor kubectl is installed and FINDASH_TEST_REQUIRE=1")
			}
			t.Skip("neither kustomize nor kubectl is installed")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
		}
		return out
	}
	type region struct {
		kinds   map[string]bool // kind/name
		config  map[string]string
		secrets map[string]string
		deploys []appsv1.Deployment
	}
	regions := map[string]*region{}
	for _, name := range []string{"a", "b"} {
		r := &region{kinds: map[string]bool{}, config: map[string]string{}, secrets: map[string]string{}}
		regions[name] = r
		for i, doc := range docSep.Split(string(build(filepath.Join(regionsDir, name))), -1) {
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil || o.Kind == "" {
				continue
			}
			mk, ok := k8sTypes[o.APIVersion+"/"+o.Kind]
			if !ok {
				t.Errorf("region %s #%d: unknown %s/%s", name, i, o.APIVersion, o.Kind)
				continue
			}
			v := mk()
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Errorf("region %s #%d %s/%s: %v", name, i, o.Kind, o.Metadata.Name, err)
				continue
			}
			r.kinds[o.Kind+"/"+o.Metadata.Name] = true
			switch v := v.(type) {
			case *corev1.ConfigMap:
				if v.Name == "findash-config" {
					r.config = v.Data
				}
			case *corev1.Secret:
				r.secrets = v.StringData
			case *appsv1.Deployment:
				r.deploys = append(r.deploys, *v)
			}
		}
	}
	a, b := regions["a"], regions["b"]
	for _, k := range []string{"Deployment/findash-worker", "Job/findash-migrate"} {
		if !a.kinds[k] {
			t.Errorf("region a (the primary) has no %s", k)
		}
		if b.kinds[k] {
			t.Errorf("region b (a mirror) has %s: workers and migrations run in the primary region only", k)
		}
	}
	if a.config["FINDASH_REGION"] != "a" || b.config["FINDASH_REGION"] != "b" {
		t.Errorf("FINDASH_REGION: a %q, b %q", a.config["FINDASH_REGION"], b.config["FINDASH_REGION"])
	}
	if a.config["FINDASH_STREAM_MIRROR_DOMAIN"] != "" || b.config["FINDASH_STREAM_MIRROR_DOMAIN"] != "a" {
		t.Errorf("FINDASH_STREAM_MIRROR_DOMAIN: a %q (want none), b %q (want a)", a.config["FINDASH_STREAM_MIRROR_DOMAIN"], b.config["FINDASH_STREAM_MIRROR_DOMAIN"])
	}
	if a.config["FINDASH_LOG_PARTITIONS"] != b.config["FINDASH_LOG_PARTITIONS"] {
		t.Errorf("FINDASH_LOG_PARTITIONS differs: a %q, b %q (one log, one layout)", a.config["FINDASH_LOG_PARTITIONS"], b.config["FINDASH_LOG_PARTITIONS"])
	}
	// The example names region a's services *.region-a.internal from
	// region b; b's replica is its own cluster's pgbouncer-replica.
	if u := b.secrets["FINDASH_DATABASE_REPLICA_URLS"]; u == "" || strings.Contains(u, "region-a") {
		t.Errorf("region b's replica URL %q: each region reads its own replica", u)
	}
	for _, k := range []string{"FINDASH_DATABASE_URL", "FINDASH_DATABASE_MIGRATE_URL"} {
		if u := b.secrets[k]; !strings.Contains(u, "region-a") {
			t.Errorf("region b's %s %q: writes go to region a's primary", k, u)
		}
	}
	for name, r := range regions {
		if len(r.deploys) < 3 {
			t.Fatalf("region %s: only %d Deployments", name, len(r.deploys))
		}
		for _, d := range r.deploys {
			env := []string{"FINDASH_DATA_DIR=" + t.TempDir()}
			for k, v := range r.config {
				if k != "FINDASH_DATA_DIR" {
					env = append(env, k+"="+v)
				}
			}
			for k, v := range r.secrets {
				env = append(env, k+"="+v)
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom == nil {
						env = append(env, e.Name+"="+e.Value)
					}
				}
			}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			config.Flags(fs)
			if _, err := config.Load(fs, env); err != nil {
				t.Errorf("region %s, Deployment %s: findash refuses its configuration: %v", name, d.Name, err)
			}
		}
	}
	checkNATSValues(t)
}

// checkNATSValues checks the regions' NATS Helm values: JetStream domains a
// and b (the mirror names a's), a leafnode listener in a and a remote in b.
func checkNATSValues(t *testing.T) {
	t.Helper()
	type values struct {
		Config struct {
			JetStream struct {
				Merge struct {
					Domain string `json:"domain"`
				} `json:"merge"`
			} `json:"jetstream"`
			LeafNodes struct {
				Enabled bool `json:"enabled"`
				Port    int  `json:"port"`
				Merge   struct {
					Remotes []struct {
						URLs []string `json:"urls"`
					} `json:"remotes"`
				} `json:"merge"`
			} `json:"leafnodes"`
		} `json:"config"`
	}
	read := func(region string) values {
		b, err := os.ReadFile(filepath.Join(regionsDir, region, "nats-values.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var v values
		if err := yaml.UnmarshalStrict(b, &v); err != nil {
			t.Fatalf("region %s nats-values.yaml: %v", region, err)
		}
		return v
	}
	a, b := read("a"), read("b")
	if a.Config.JetStream.Merge.Domain != "a" || b.Config.JetStream.Merge.Domain != "b" {
		t.Errorf("JetStream domains: a %q, b %q", a.Config.JetStream.Merge.Domain, b.Config.JetStream.Merge.Domain)
	}
	if !a.Config.LeafNodes.Enabled || a.Config.LeafNodes.Port == 0 {
		t.Error("region a's NATS has no leafnode listener for region b")
	}
	if r := b.Config.LeafNodes.Merge.Remotes; !b.Config.LeafNodes.Enabled || len(r) != 1 || len(r[0].URLs) == 0 || !strings.HasPrefix(r[0].URLs[0], "nats-leaf://") {
		t.Errorf("region b's NATS has no leafnode remote to region a: %+v", b.Config.LeafNodes)
	}
}
