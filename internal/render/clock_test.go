package render

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestClockCache wants the cached renderings to be the time package's,
// for times in one second and across seconds, in several zones.
func TestClockCache(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("X", 3600), time.FixedZone("Y", -(5*3600 + 30*60))}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	var c clockCache
	base := time.Date(2026, 3, 8, 6, 59, 58, 0, time.UTC).Unix() // near a DST change in New York
	for i := range 200000 {
		sec := base + rnd.Int64N(5)
		if rnd.IntN(100) == 0 {
			sec = rnd.Int64N(1<<40) - 1<<39 // years outside 1000-9999 too
		}
		var ns int64
		switch rnd.IntN(4) {
		case 0:
		case 1:
			ns = rnd.Int64N(1e9)
		case 2:
			ns = rnd.Int64N(1e3) * 1e6
		default:
			ns = rnd.Int64N(1e6) * 1e3
		}
		tm := time.Unix(sec, ns)
		if z := rnd.IntN(len(zones) + 1); z < len(zones) {
			tm = tm.In(zones[z])
		}
		if got, want := string(c.appendRFC3339Nano([]byte("x"), tm)), "x"+tm.Format(time.RFC3339Nano); got != want {
			t.Fatalf("%d: RFC 3339 %s, want %s", i, got, want)
		}
		if got, want := string(c.appendClock(nil, tm)), tm.Format("15:04:05.000000"); got != want {
			t.Fatalf("%d: clock %s, want %s", i, got, want)
		}
	}
}
