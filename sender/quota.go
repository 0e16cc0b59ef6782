package sender

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Quota is at most N messages accepted by a relay in any Window: a rolling
// window, counted by the caller from its ledger's own send times, so that
// it holds across runs. It is written, and stored, as N/WINDOW: 2000/24h,
// 500/1h, 10000/7d. The zero Quota is no limit.
type Quota struct {
	N      int
	Window time.Duration
}

// MinQuotaWindow is the shortest window: the ledger counts sends per
// minute, so a shorter one could not be kept.
const MinQuotaWindow = time.Minute

// ParseQuota reads N/WINDOW. WINDOW is a Go duration (24h, 90m), a number
// of days (7d), or a bare unit (h, d) meaning one of it. "" is no quota.
func ParseQuota(s string) (Quota, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Quota{}, nil
	}
	num, win, found := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	d, derr := parseWindow(strings.TrimSpace(win))
	if !found || err != nil || derr != nil || n < 1 || d < MinQuotaWindow {
		return Quota{}, fmt.Errorf("quota %q: use MESSAGES/WINDOW with at least 1 message and a window of 1m or more, like 2000/24h, 500/1h or 10000/7d", s)
	}
	return Quota{N: n, Window: d}, nil
}

func parseWindow(s string) (time.Duration, error) {
	switch s {
	case "d", "h", "m":
		s = "1" + s
	case "":
		return 0, fmt.Errorf("no window")
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

// String is the written form; "" for no quota.
func (q Quota) String() string {
	if q.N == 0 {
		return ""
	}
	w := strings.TrimSuffix(q.Window.String(), "0s")
	if strings.HasSuffix(w, "h0m") {
		w = strings.TrimSuffix(w, "0m")
	}
	if q.Window%(24*time.Hour) == 0 && q.Window > 24*time.Hour {
		w = strconv.Itoa(int(q.Window/(24*time.Hour))) + "d"
	}
	return strconv.Itoa(q.N) + "/" + w
}

// MarshalText stores the written form, so a campaign's settings read as
// the configuration did.
func (q Quota) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText reads the written form (ParseQuota).
func (q *Quota) UnmarshalText(b []byte) error {
	v, err := ParseQuota(string(b))
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// Warmup is a schedule of daily volumes for a new relay or IP address:
// on the Start day (a date, YYYY-MM-DD) the relay may take Daily[0]
// messages, the next day Daily[1], and so on; after the last day its
// volume holds. Days are calendar days in UTC, so that every worker
// sharing a ledger agrees on them whatever its time zone. Before Start the
// first day's volume applies.
type Warmup struct {
	Start string `json:"start" mapstructure:"start"`
	Daily []int  `json:"daily" mapstructure:"daily"`
}

// Check says what is wrong with the schedule, if anything.
func (w *Warmup) Check() error {
	if _, err := time.Parse(time.DateOnly, w.Start); err != nil {
		return fmt.Errorf("start is %q; use a date like 2026-12-01", w.Start)
	}
	if len(w.Daily) == 0 {
		return fmt.Errorf("daily is empty; give the volume of each day, like [200, 500, 1000, 2000]")
	}
	for i, n := range w.Daily {
		if n < 1 {
			return fmt.Errorf("daily[%d] is %d; use 1 or more messages a day", i, n)
		}
	}
	return nil
}

// Day is the UTC calendar day at: its start, its number in the schedule
// (1 for Start, 0 before it) and the messages the relay may take on it.
func (w *Warmup) Day(at time.Time) (start time.Time, day, allowance int) {
	start = at.UTC().Truncate(24 * time.Hour)
	first, err := time.Parse(time.DateOnly, w.Start)
	if err != nil || len(w.Daily) == 0 {
		return start, 0, 0
	}
	day = int(start.Sub(first)/(24*time.Hour)) + 1
	i := min(max(day-1, 0), len(w.Daily)-1)
	return start, max(day, 0), w.Daily[i]
}

// CheckKey is Check's error naming the setting, key; nil for no warm-up.
func (w *Warmup) CheckKey(key string) error {
	if w == nil {
		return nil
	}
	if err := w.Check(); err != nil {
		return fmt.Errorf("%s.%w", key, err)
	}
	return nil
}

// DateHook is a configuration decode hook: YAML reads an unquoted date
// (smtp.warmup.start: 2026-12-01) as a time, which a string setting takes
// back as the date it was written as.
func DateHook(from, to reflect.Type, data any) (any, error) {
	t, ok := data.(time.Time)
	if !ok || to.Kind() != reflect.String {
		return data, nil
	}
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.UTC().Format(time.DateOnly), nil
	}
	return t.Format(time.RFC3339), nil
}
