// Package export sends ctrace's events to an OpenTelemetry Collector as OTLP
// log records, with the OpenTelemetry Go SDK's OTLP log exporters (gRPC or
// HTTP/protobuf) behind its batching processor.
//
// One event is one record: the body is the event's text line, the
// attributes are its JSON fields (Attributes), the severity WARN for a
// failure (INFO for a success shown with --all), the timestamp the call's
// time. The resource names the node (host.name) and ctrace
// (service.name, service.version).
//
// Export never blocks the caller: events wait in a bounded queue; when it
// is full (the collector is slow or away) new events are dropped and
// counted. A batch the collector does not take is retried with backoff for
// up to the export timeout, then dropped and counted as failed; the first
// failure is reported at once and the next ones at most once a minute.
package export

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
)

// DefaultQueueSize is how many events may wait for the collector, in
// ctrace's queue and again in the SDK's: a few MiB at most.
const DefaultQueueSize = 4096

// Options configure an Exporter.
type Options struct {
	Config
	// QueueSize bounds the events waiting to be sent; DefaultQueueSize
	// when 0.
	QueueSize int
	// Version is ctrace's version, the resource's service.version.
	Version string
	// Warn reports that the collector did not take what was sent: the
	// first time at once, then at most once a minute.
	Warn func(msg string)
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
}

// Record is one event to export.
type Record struct {
	Time time.Time
	// Text is the event's text line, without its newline: the body.
	Text string
	// JSON is the event as -o json prints it; its fields become the
	// attributes.
	JSON []byte
	// Failed is false for a successful call (--all).
	Failed bool
}

// Stats counts what became of the events given to Export.
type Stats struct {
	Sent    uint64 // accepted by the collector
	Failed  uint64 // sent, refused or not answered within the timeout, dropped
	Dropped uint64 // never sent: the queue was full, or ctrace stopped first
}

// Exporter sends records to a collector.
type Exporter struct {
	target   target
	warn     func(string)
	provider *sdklog.LoggerProvider
	logger   log.Logger

	mu     sync.Mutex // guards queue's closing against Export
	closed bool
	queue  chan Record
	// slots holds one token per record handed to the SDK and not yet
	// answered for, so that the SDK's own queue (the same size) never
	// overflows: its drops would not be counted.
	slots  chan struct{}
	stop   chan struct{} // closed when Close gives up waiting
	worker sync.WaitGroup

	emitted, sent, failed, dropped atomic.Uint64

	warnMu      sync.Mutex
	lastWarn    time.Time
	failedSince uint64 // records failed since the last warning
	lastErr     error
}

// New makes an exporter and starts its worker. It does not connect: the
// first batch does, and a collector that is not there yet is retried.
func New(o Options) (*Exporter, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	t, err := o.Config.resolve(getenv)
	if err != nil {
		return nil, err
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	e := &Exporter{
		target: t,
		warn:   o.Warn,
		queue:  make(chan Record, o.QueueSize),
		slots:  make(chan struct{}, o.QueueSize),
		stop:   make(chan struct{}),
	}
	if e.warn == nil {
		e.warn = func(string) {}
	}
	inner, err := newSDKExporter(t)
	if err != nil {
		return nil, err
	}
	// The SDK reports export errors here too; the counting exporter below
	// reports them with their counts, and this only what it cannot see.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { e.noteFailure(0, err) }))
	host, _ := os.Hostname()
	res := resource.NewSchemaless(
		semconv.ServiceName("ctrace"),
		semconv.ServiceVersion(o.Version),
		attribute.String(string(semconv.HostNameKey), host),
	)
	e.provider = sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(&countingExporter{Exporter: inner, e: e},
			sdklog.WithMaxQueueSize(o.QueueSize),
			sdklog.WithExportTimeout(t.timeout),
			sdklog.WithExportInterval(time.Second),
		)),
	)
	e.logger = e.provider.Logger("github.com/ctrace-dev/ctrace", log.WithInstrumentationVersion(o.Version))
	e.worker.Add(1)
	go e.run()
	return e, nil
}

func newSDKExporter(t target) (sdklog.Exporter, error) {
	// Retries of a batch stop at the export timeout; between them the
	// interval doubles from half a second up to five.
	ctx := context.Background()
	if t.protocol == ProtocolHTTP {
		opts := []otlploghttp.Option{
			otlploghttp.WithEndpoint(t.hostPort),
			otlploghttp.WithURLPath(t.urlPath),
			otlploghttp.WithTimeout(t.timeout),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true,
				InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: t.timeout}),
		}
		if t.insecure {
			opts = append(opts, otlploghttp.WithInsecure())
		} else {
			opts = append(opts, otlploghttp.WithTLSClientConfig(t.tls))
		}
		exp, err := otlploghttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("OTLP/HTTP exporter: %w", err)
		}
		return exp, nil
	}
	opts := []otlploggrpc.Option{
		otlploggrpc.WithEndpoint(t.hostPort),
		otlploggrpc.WithTimeout(t.timeout),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: true,
			InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: t.timeout}),
		// Reconnect within seconds of a collector coming back, not
		// gRPC's default of up to two minutes.
		otlploggrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		})),
	}
	if t.insecure {
		opts = append(opts, otlploggrpc.WithInsecure())
	} else {
		opts = append(opts, otlploggrpc.WithTLSCredentials(credentials.NewTLS(t.tls)))
	}
	exp, err := otlploggrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP/gRPC exporter: %w", err)
	}
	return exp, nil
}

// Target describes where records go, for the start-up message:
// "grpc 127.0.0.1:4317 (plaintext)".
func (e *Exporter) Target() string {
	sec := "TLS"
	if e.target.insecure {
		sec = "plaintext"
	}
	where := e.target.hostPort
	if e.target.protocol == ProtocolHTTP {
		where += e.target.urlPath
	}
	return fmt.Sprintf("%s %s (%s)", e.target.protocol, where, sec)
}

// Export queues r and returns at once; r's fields are copied. A full queue
// drops r and counts it.
func (e *Exporter) Export(r Record) {
	r.JSON = append([]byte(nil), r.JSON...)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.dropped.Add(1)
		return
	}
	select {
	case e.queue <- r:
	default:
		e.dropped.Add(1)
	}
}

// run hands queued records to the SDK, no more at a time than its queue
// holds.
func (e *Exporter) run() {
	defer e.worker.Done()
	for r := range e.queue {
		select {
		case e.slots <- struct{}{}:
		case <-e.stop:
			e.dropped.Add(1 + uint64(len(e.queue)))
			for range e.queue {
			}
			return
		}
		e.emit(r)
	}
}

func (e *Exporter) emit(r Record) {
	var rec log.Record
	rec.SetTimestamp(r.Time)
	rec.SetObservedTimestamp(time.Now())
	if r.Failed {
		rec.SetSeverity(log.SeverityWarn)
		rec.SetSeverityText("WARN")
	} else {
		rec.SetSeverity(log.SeverityInfo)
		rec.SetSeverityText("INFO")
	}
	rec.SetBody(attribute.StringValue(r.Text))
	attrs, err := Attributes(r.JSON)
	if err != nil {
		// The renderer wrote it: a bug, but the text still says it all.
		attrs = []attribute.KeyValue{attribute.String("ctrace.error_attributes", err.Error())}
	}
	rec.AddAttributes(attrs...)
	e.emitted.Add(1)
	e.logger.Emit(context.Background(), rec)
}

// countingExporter counts what the collector took and what it did not,
// and frees the records' slots.
type countingExporter struct {
	sdklog.Exporter
	e *Exporter
}

func (c *countingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	err := c.Exporter.Export(ctx, recs)
	n := uint64(len(recs))
	if err == nil {
		c.e.sent.Add(n)
	} else {
		c.e.failed.Add(n)
		c.e.noteFailure(n, err)
	}
	for range recs {
		select {
		case <-c.e.slots:
		default:
		}
	}
	return err
}

// noteFailure warns about a failed export at once the first time, then at
// most once a minute, with the count of records failed in between.
func (e *Exporter) noteFailure(n uint64, err error) {
	e.warnMu.Lock()
	e.failedSince += n
	e.lastErr = err
	if !e.lastWarn.IsZero() && time.Since(e.lastWarn) < time.Minute {
		e.warnMu.Unlock()
		return
	}
	msg := e.failureMessage()
	e.lastWarn = time.Now()
	e.failedSince = 0
	e.warnMu.Unlock()
	e.warn(msg)
}

func (e *Exporter) failureMessage() string {
	msg := fmt.Sprintf("OTLP export to %s failed: %v", e.Target(), e.lastErr)
	if h := tlsHint(e.lastErr); h != "" {
		msg += "; " + h
	}
	if e.failedSince > 0 {
		msg += fmt.Sprintf(" (%d records not sent since the last warning, %d in all; later records are still sent)", e.failedSince, e.failed.Load())
	}
	return msg
}

// Stats returns the counts so far; they are final after Close.
func (e *Exporter) Stats() Stats {
	return Stats{Sent: e.sent.Load(), Failed: e.failed.Load(), Dropped: e.dropped.Load()}
}

// Close sends what is queued, waiting no longer than ctx allows, and stops
// the exporter; records still unsent then are counted as dropped. A
// failure not yet warned about is reported now. Export failures are in
// Stats, not in the error, which is always nil today.
func (e *Exporter) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.queue)
	e.mu.Unlock()

	done := make(chan struct{})
	go func() {
		e.worker.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		close(e.stop)
		<-done
	}
	// Shutdown's error is the last batch's, already counted and warned
	// about by the counting exporter.
	_ = e.provider.Shutdown(ctx)
	// What the SDK still held when ctx ran out was never answered for.
	if left := int64(e.emitted.Load()) - int64(e.sent.Load()+e.failed.Load()); left > 0 {
		e.dropped.Add(uint64(left))
	}
	e.warnMu.Lock()
	pending := e.failedSince > 0
	msg := ""
	if pending {
		msg = e.failureMessage()
	}
	e.warnMu.Unlock()
	if pending {
		e.warn(msg)
	}
	return nil
}
