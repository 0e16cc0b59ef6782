package doctor

// Status is how a check came out.
type Status string

// The statuses, from good to bad.
const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

func (s Status) rank() int {
	switch s {
	case Warn:
		return 1
	case Fail:
		return 2
	}
	return 0
}

// Finding is the outcome of one check.
type Finding struct {
	Check  string `json:"check"`  // e.g. "spf", "tls", "bulk.dkim"
	Status Status `json:"status"` // OK, WARN or FAIL
	Detail string `json:"detail"` // what was found
	Fix    string `json:"fix"`    // one line on how to fix it; "" when OK
}

// Worst is the worst status of findings; OK for none.
func Worst(findings []Finding) Status {
	worst := OK
	for _, f := range findings {
		if f.Status.rank() > worst.rank() {
			worst = f.Status
		}
	}
	return worst
}

func ok(check, detail string) Finding { return Finding{Check: check, Status: OK, Detail: detail} }

func warn(check, detail, fix string) Finding {
	return Finding{Check: check, Status: Warn, Detail: detail, Fix: fix}
}

func fail(check, detail, fix string) Finding {
	return Finding{Check: check, Status: Fail, Detail: detail, Fix: fix}
}
