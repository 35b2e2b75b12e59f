package render

import "time"

// clockCache renders event times, keeping what is the same for every
// time of one second: events in a storm share it, and formatting a whole
// time was a tenth of the cost of a JSON event.
type clockCache struct {
	ok   bool
	sec  int64
	loc  *time.Location
	date []byte // RFC 3339 through the seconds: "2026-11-23T10:58:29"
	zone []byte // "Z", "+01:00"
	hms  []byte // "10:58:29"
}

// load makes the cache hold t's second; false if it cannot (a year of
// other than four digits), and then t is to be formatted in full.
func (c *clockCache) load(t time.Time) bool {
	sec, loc := t.Unix(), t.Location()
	if c.ok && sec == c.sec && loc == c.loc {
		return true
	}
	if y := t.Year(); y < 1000 || y > 9999 {
		return false
	}
	whole := time.Unix(sec, 0).In(loc)
	c.date = whole.AppendFormat(c.date[:0], "2006-01-02T15:04:05")
	c.zone = whole.AppendFormat(c.zone[:0], "Z07:00")
	c.hms = whole.AppendFormat(c.hms[:0], "15:04:05")
	c.ok, c.sec, c.loc = true, sec, loc
	return true
}

// appendRFC3339Nano appends t as t.AppendFormat(b, time.RFC3339Nano) does.
func (c *clockCache) appendRFC3339Nano(b []byte, t time.Time) []byte {
	if !c.load(t) {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	b = append(b, c.date...)
	if ns := t.Nanosecond(); ns != 0 {
		// A fraction without its trailing zeros.
		var d [10]byte
		d[0] = '.'
		for i := 9; i > 0; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(d)
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, c.zone...)
}

// appendClock appends t as t.AppendFormat(b, "15:04:05.000000") does.
func (c *clockCache) appendClock(b []byte, t time.Time) []byte {
	if !c.load(t) {
		return t.AppendFormat(b, "15:04:05.000000")
	}
	b = append(b, c.hms...)
	us := t.Nanosecond() / 1000
	var d [7]byte
	d[0] = '.'
	for i := 6; i > 0; i-- {
		d[i] = byte('0' + us%10)
		us /= 10
	}
	return append(b, d[:]...)
}
