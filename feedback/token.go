package feedback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
)

// Purpose keeps a token made for one use from being accepted for another:
// a VERP token taken from a bounce address is no unsubscribe link.
type Purpose string

// The purposes of tokens.
const (
	PurposeVERP        Purpose = "verp"        // return_path local part and ENVID
	PurposeUnsubscribe Purpose = "unsubscribe" // the one-click link
)

// macLen is 80 bits: enough that guessing is hopeless at any rate a mail
// server or web server accepts, and short enough that bounces+TOKEN stays
// well under the 64-octet local-part limit.
const macLen = 10

// tokenEncoding is lower-case base32: local parts are often lower-cased
// on the way back, and base32 survives that (VerifyToken folds case).
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// SignToken names row of campaignID, signed with key for purpose.
func SignToken(key []byte, p Purpose, t Target) string {
	payload := binary.AppendUvarint(nil, uint64(t.CampaignID))
	payload = binary.AppendUvarint(payload, uint64(t.Row))
	return tokenEncoding.EncodeToString(append(payload, mac(key, p, payload)...))
}

// VerifyToken returns the row a token names, if key signed it for p.
func VerifyToken(key []byte, p Purpose, token string) (Target, bool) {
	raw, err := tokenEncoding.DecodeString(strings.ToLower(token))
	if err != nil || len(raw) <= macLen || len(key) == 0 {
		return Target{}, false
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, mac(key, p, payload)) {
		return Target{}, false
	}
	id, n := binary.Uvarint(payload)
	row, m := binary.Uvarint(payload[max(n, 0):])
	if n <= 0 || m <= 0 || n+m != len(payload) || id > 1<<62 || row > 1<<31 {
		return Target{}, false
	}
	t := Target{CampaignID: int64(id), Row: int(row)}
	// Only the token as signed: base32's last character has spare bits
	// the decoder ignores, so an altered token can decode to the same row.
	if !strings.EqualFold(token, SignToken(key, p, t)) {
		return Target{}, false
	}
	return t, true
}

func mac(key []byte, p Purpose, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("mailblast-" + string(p) + "\x00"))
	h.Write(payload)
	return h.Sum(nil)[:macLen]
}
