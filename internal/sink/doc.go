// Package sink holds the outputs at the end of the pipeline: the event
// lines (text or JSON), the summary table, the metrics, the exit status's
// tally and the OTLP export. Each decides what it takes by the event's
// two predicates, pipeline.Event.Shown (outputs that show events) and
// pipeline.Event.Counted (outputs that count calls), and by nothing else,
// so that every output agrees on what a hidden, known-harmless or
// deduplicated event is.
package sink
