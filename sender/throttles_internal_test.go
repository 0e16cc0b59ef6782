package sender

import "testing"

// TestTakeThrottles: every throttling reply is counted, also those within
// the second in which the governor reacts only once; each is taken once;
// an idle-timeout 421 4.4.2 or a refusal is not one; taking allocates
// nothing.
func TestTakeThrottles(t *testing.T) {
	a, err := NewPool(Config{Settings: Settings{Host: "127.0.0.1", Port: 1, Connections: 4}, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPool(Config{Settings: Settings{Host: "127.0.0.1", Port: 2, Connections: 2}, Name: "b"})
	g := NewGroup(a, b)
	for _, e := range []*Error{{Code: 421, Enhanced: "4.7.0"}, {Code: 454, Enhanced: "4.7.0"}, {Code: 421, Enhanced: "4.4.2"},
		{Code: 550, Enhanced: "5.1.1"}, nil, {Code: 450, Enhanced: "4.2.1"}} {
		a.gov.observe(e)
	}
	if n, conns := g.TakeThrottles("a"); n != 3 || conns != 2 {
		t.Errorf("relay a: %d throttling replies, %d connections; want 3, and 2 of 4 after one reaction", n, conns)
	}
	if n, conns := g.TakeThrottles("a"); n != 0 || conns != 2 {
		t.Errorf("taken again: %d, %d connections", n, conns)
	}
	if n, conns := g.TakeThrottles("b"); n != 0 || conns != 2 {
		t.Errorf("relay b: %d, %d connections", n, conns)
	}
	if allocs := testing.AllocsPerRun(100, func() { g.TakeThrottles("b") }); allocs != 0 {
		t.Errorf("%v allocations per take", allocs)
	}
}
