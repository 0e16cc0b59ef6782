package feedback

import (
	"net/mail"
	"strings"
)

var arfStatusTypes = map[string]bool{"message/feedback-report": true}

// complaintTypes are the RFC 5965 feedback types that mean "the
// recipient did not want this": the others (not-spam, auth-failure,
// other) are read but carry no Event.
var complaintTypes = map[string]bool{"abuse": true, "fraud": true, "virus": true}

// parseARF reads a multipart/report; report-type=feedback-report.
func parseARF(m *message) (Report, error) {
	rp, err := readReportParts(m, arfStatusTypes, 0)
	if err != nil {
		return unreadable("feedback report: %v", err)
	}
	fields := rp.status.perMessage
	rep := Report{Class: ClassARF}
	if !complaintTypes[firstWord(fields.get("feedback-type"))] {
		return rep, nil
	}
	rep.Events = []Event{{
		Kind:      Complaint,
		Source:    "arf",
		Token:     arfToken(rp.returned, fields),
		MessageID: messageID(rp.returned),
		Address:   unredacted(fields.get("original-rcpt-to")),
		At:        parseDate(fields.get("arrival-date"), m.date),
		Key:       reportEventKey("arf", m, 0, fields),
	}}
	return rep, nil
}

// arfToken is the VERP token of the returned message's envelope sender:
// its Return-Path as the receiver recorded it, else the report's
// Original-Mail-From.
func arfToken(returned mail.Header, fields fieldGroup) string {
	if returned != nil {
		if t := verpToken(returned.Get("Return-Path")); t != "" {
			return t
		}
	}
	return verpToken(fields.get("original-mail-from"))
}

// unredacted is the Original-Rcpt-To address, or "" when the provider
// redacted it (Microsoft's JMRP and others put x's or "redacted" in its
// place): a redacted address must not be taken for a mismatch.
func unredacted(v string) string {
	addr := strings.TrimSpace(v)
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	} else {
		return ""
	}
	local, _, _ := strings.Cut(addr, "@")
	lower := strings.ToLower(local)
	if strings.Trim(lower, "x*.-_") == "" || strings.Contains(lower, "redacted") {
		return ""
	}
	return clean(addr, 320)
}
