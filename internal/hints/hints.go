// Package hints turns the reasons of a failed call into what to do about
// it: one sentence that says what is wrong and how to fix it.
//
// The rules are one table. Each rule names the evidence it requires, all
// of it found by ctrace on the call itself (its reasons, arguments and
// container), and gives no hint without it: a hint is advice built on a
// diagnosis, never a guess at one.
package hints

import (
	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/tracer"
)

// Hint is one piece of advice on an event.
type Hint struct {
	// Rule names the rule that gave it ("userns-unmapped-owner").
	Rule string
	Text string
}

// Rule is one kind of advice.
type Rule struct {
	Name string
	// Evidence says what the rule requires of an event.
	Evidence string
	// hint returns the advice for ev of container c (nil on the host),
	// or "" when the evidence is not there.
	hint func(ev *tracer.Event, c *correlate.Container) string
}

// Rules is the table, in the order hints are listed.
var Rules = []Rule{
	{
		Name: "stale-netns",
		Evidence: "a netns reason with state stale: the call named a network namespace file that exists but has " +
			"no namespace mounted on it (statfs does not report nsfs)",
		hint: staleNetNS,
	},
}

// For returns the hints for an event of container c (nil on the host).
func For(ev *tracer.Event, c *correlate.Container) []Hint {
	if !ev.Failed() || len(ev.Reasons) == 0 {
		return nil
	}
	var out []Hint
	for i := range Rules {
		if text := Rules[i].hint(ev, c); text != "" {
			out = append(out, Hint{Rule: Rules[i].Name, Text: text})
		}
	}
	return out
}

func reason(ev *tracer.Event, kind tracer.ReasonKind) *tracer.Reason {
	for i := range ev.Reasons {
		if ev.Reasons[i].Kind == kind {
			return &ev.Reasons[i]
		}
	}
	return nil
}
