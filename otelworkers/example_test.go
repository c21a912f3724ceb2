package otelworkers_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/otelworkers"
)

func ExampleNewInterceptor() {
	spans := tracetest.NewInMemoryExporter() // in production: an OTLP exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	ic, err := otelworkers.NewInterceptor(otelworkers.WithTracerProvider(tp))
	if err != nil {
		panic(err)
	}
	reg := workers.NewRegistry(workers.WithInterceptors(ic))
	defer reg.Close(context.Background())
	reg.Register("calc", workers.Worker{Default: workers.New[Calc]()})
	reg.Register("front", workers.Worker{
		Default:  workers.New[Front](),
		Services: []workers.Service{{Binding: "CALC", Service: "calc"}},
	})

	sum, err := workers.Call[int](context.Background(), reg.Bind(workers.Service{Service: "front"}), "Sum", 1, 2)
	fmt.Println(sum, err)
	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name, s.SpanKind, s.Parent.IsValid())
	}
	// Output:
	// 3 <nil>
	// calc/Add internal true
	// front/Sum internal false
}
