package manifests_test

import (
	"fmt"
	"slices"
	"sort"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The custom resources below carry the fields their documentation lists,
// so a strict decode refuses anything else. They are written from the
// documents named on each, not generated: importing KEDA's or the
// Prometheus Operator's Go module would pull controller-runtime and more
// into this test for four kinds.

// scaledObject is keda.sh/v1alpha1 ScaledObject
// (keda.sh/docs/2.x/reference/scaledobject-spec).
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
		IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
		Fallback              *struct {
			FailureThreshold int32  `json:"failureThreshold"`
			Replicas         int32  `json:"replicas"`
			Behavior         string `json:"behavior,omitempty"`
		} `json:"fallback,omitempty"`
		Advanced *struct {
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []kedaTrigger `json:"triggers"`
	} `json:"spec"`
}

type kedaTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	MetricType        string            `json:"metricType,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
}

// kedaMetadata lists, per trigger type used here, the metadata keys its
// scaler's page documents and the ones it requires.
var kedaMetadata = map[string]struct{ known, required []string }{
	// keda.sh/docs/2.x/scalers/nats-jetstream
	"nats-jetstream": {
		known:    []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"},
		required: []string{"natsServerMonitoringEndpoint", "stream", "consumer", "lagThreshold"},
	},
	// keda.sh/docs/2.x/scalers/prometheus
	"prometheus": {
		known:    []string{"serverAddress", "query", "queryParameters", "threshold", "activationThreshold", "namespace", "customHeaders", "ignoreNullValues", "unsafeSsl", "timeout"},
		required: []string{"serverAddress", "query", "threshold"},
	},
	// keda.sh/docs/2.x/scalers/cpu
	"cpu": {known: []string{"type", "value", "containerName"}, required: []string{"value"}},
}

// check refuses a trigger of an undocumented type, an unknown metadata key
// and a missing required one.
func (s *scaledObject) check() error {
	if s.Spec.ScaleTargetRef.Name == "" || len(s.Spec.Triggers) == 0 {
		return fmt.Errorf("ScaledObject needs scaleTargetRef.name and at least one trigger")
	}
	for _, tr := range s.Spec.Triggers {
		doc, ok := kedaMetadata[tr.Type]
		if !ok {
			return fmt.Errorf("trigger type %q: not one whose documented fields this test holds", tr.Type)
		}
		keys := make([]string, 0, len(tr.Metadata))
		for k := range tr.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !slices.Contains(doc.known, k) {
				return fmt.Errorf("trigger %s: unknown metadata key %q (documented: %v)", tr.Type, k, doc.known)
			}
		}
		for _, k := range doc.required {
			if tr.Metadata[k] == "" {
				return fmt.Errorf("trigger %s: metadata %q is required", tr.Type, k)
			}
		}
	}
	return nil
}

// triggerAuthentication is keda.sh/v1alpha1 TriggerAuthentication (secret
// references only: keda.sh/docs/2.x/concepts/authentication).
type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef,omitempty"`
	} `json:"spec"`
}

// serviceMonitor is monitoring.coreos.com/v1 ServiceMonitor, the fields
// findash uses (prometheus-operator.dev, API reference: ServiceMonitorSpec,
// Endpoint, RelabelConfig).
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			Relabelings   []struct {
				SourceLabels []string `json:"sourceLabels,omitempty"`
				Separator    string   `json:"separator,omitempty"`
				TargetLabel  string   `json:"targetLabel,omitempty"`
				Regex        string   `json:"regex,omitempty"`
				Replacement  string   `json:"replacement,omitempty"`
				Action       string   `json:"action,omitempty"`
			} `json:"relabelings,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is monitoring.coreos.com/v1 PrometheusRule
// (PrometheusRuleSpec, RuleGroup, Rule).
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval,omitempty"`
			Rules    []struct {
				Record        string            `json:"record,omitempty"`
				Alert         string            `json:"alert,omitempty"`
				Expr          string            `json:"expr"`
				For           string            `json:"for,omitempty"`
				KeepFiringFor string            `json:"keep_firing_for,omitempty"`
				Labels        map[string]string `json:"labels,omitempty"`
				Annotations   map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// adapterValues is the part of prometheus-adapter's Helm values findash
// ships: rules.custom, in the adapter's documented rule format
// (github.com/kubernetes-sigs/prometheus-adapter, docs/config.md).
type adapterValues struct {
	Rules struct {
		Custom []struct {
			SeriesQuery   string `json:"seriesQuery"`
			SeriesFilters []struct {
				Is    string `json:"is,omitempty"`
				IsNot string `json:"isNot,omitempty"`
			} `json:"seriesFilters,omitempty"`
			Resources struct {
				Template  string `json:"template,omitempty"`
				Overrides map[string]struct {
					Group    string `json:"group,omitempty"`
					Resource string `json:"resource"`
				} `json:"overrides,omitempty"`
			} `json:"resources"`
			Name struct {
				Matches string `json:"matches"`
				As      string `json:"as"`
			} `json:"name"`
			MetricsQuery string `json:"metricsQuery"`
		} `json:"custom"`
	} `json:"rules"`
}
