package observe

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is the process's tracer provider: an OTLP/HTTP exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set, a no-op otherwise.
type Tracing struct {
	Provider trace.TracerProvider
	shutdown func(context.Context) error
}

// NewTracing returns an exporting provider when enabled (config sets it when
// OTEL_EXPORTER_OTLP_ENDPOINT is set), else a no-op one. The exporter reads
// its own settings (endpoint, headers, protocol) from the standard OTEL_*
// variables, as the OpenTelemetry specification defines.
func NewTracing(ctx context.Context, enabled bool, service, version string) (*Tracing, error) {
	if !enabled {
		return &Tracing{Provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// The propagator is process-wide state in OTel's API; setting it here, from
	// main's wiring, is the one place it is touched.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool {
	_, noopProvider := t.Provider.(noop.TracerProvider)
	return !noopProvider
}

// Shutdown flushes buffered spans.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }
