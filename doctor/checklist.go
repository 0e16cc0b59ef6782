package doctor

// checklist sums the findings up as the Gmail/Yahoo bulk-sender
// requirements of 2024: each line takes its check's status.
func checklist(found []Finding, oneClick bool) []Finding {
	by := map[string]Finding{}
	for _, f := range found {
		by[f.Check] = f
	}
	var out []Finding
	for _, item := range []struct{ check, what string }{
		{"spf", "SPF record for the envelope sender"},
		{"dkim", "DKIM signature with a published key"},
		{"dmarc", "DMARC record for the From domain"},
		{"alignment", "From aligned with DKIM and SPF"},
		{"tls", "TLS to the relay"},
	} {
		f, seen := by[item.check]
		if !seen { // the relay could not be reached
			f = warn(item.check, "", "")
		}
		line := Finding{Check: "bulk." + item.check, Status: f.Status, Detail: item.what}
		if !seen {
			line.Detail += ": not checked"
		}
		if line.Status != OK {
			line.Fix = "see the " + item.check + " line"
		}
		out = append(out, line)
	}
	return append(out, unsubscribe(oneClick))
}

func unsubscribe(oneClick bool) Finding {
	const check = "bulk.unsubscribe"
	if oneClick {
		return ok(check, "one-click unsubscribe (RFC 8058) configured")
	}
	return warn(check, "no one-click unsubscribe: Gmail and Yahoo require it of bulk senders (5,000 a day and more)",
		"set unsubscribe.url (your https link) or unsubscribe.base_url (mailblast listen)")
}
