package templates

import (
	"fmt"
	netmail "net/mail"
	"net/url"
	"strings"
)

// unsubscribe renders List-Unsubscribe (RFC 2369) and, with a URL,
// List-Unsubscribe-Post (RFC 8058 one-click).
type unsubscribe struct {
	url, mailto *expander // nil when not configured
}

const (
	unsubscribeFieldName = "List-Unsubscribe"
	mailtoPrefix         = "mailto:"
	httpsPrefix          = "https://"
)

var listUnsubscribePost = []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")

func (u *unsubscribe) fields(set map[string]struct{}) {
	for _, x := range []*expander{u.url, u.mailto} {
		if x != nil {
			x.fields(set)
		}
	}
}

// addUnsubscribe renders, checks and adds the fields.
func (st *renderState) addUnsubscribe(u *unsubscribe, data map[string]string) error {
	var uris []string
	if u.url != nil {
		v, err := st.renderUnsubscribe(u.url, data, "URL")
		if err != nil {
			return err
		}
		if err := checkHTTPS(v); err != nil {
			return &FieldError{Header: unsubscribeFieldName, Err: err}
		}
		uris = append(uris, "<"+v+">")
	}
	if u.mailto != nil {
		v, err := st.renderUnsubscribe(u.mailto, data, "mailto")
		if err != nil {
			return err
		}
		if v, err = mailtoURI(v); err != nil {
			return &FieldError{Header: unsubscribeFieldName, Err: err}
		}
		uris = append(uris, "<"+v+">")
	}
	start := len(st.arena)
	var err error
	if st.arena, err = appendField(st.arena, unsubscribeFieldName, strings.Join(uris, ", ")); err != nil {
		st.arena = st.arena[:start]
		return &FieldError{Header: unsubscribeFieldName, Err: err}
	}
	st.fields = append(st.fields, fieldRef{start: start, end: len(st.arena)})
	if u.url != nil {
		st.fields = append(st.fields, fieldRef{raw: listUnsubscribePost})
	}
	return nil
}

// renderUnsubscribe executes x and refuses line breaks.
func (st *renderState) renderUnsubscribe(x *expander, data map[string]string, what string) (string, error) {
	st.val.Reset()
	if err := x.execute(&st.val, data); err != nil {
		return "", fmt.Errorf("unsubscribe %s: %w", what, err)
	}
	v := st.val.String()
	if err := checkValue(v); err != nil {
		return "", &FieldError{Header: unsubscribeFieldName, Err: err}
	}
	return trimWSP(v), nil
}

// checkHTTPS accepts an absolute https URL written only with the characters
// RFC 3986 allows.
func checkHTTPS(v string) error {
	if len(v) < len(httpsPrefix) || !strings.EqualFold(v[:len(httpsPrefix)], httpsPrefix) {
		return fmt.Errorf("%w: %.60q is not an https:// URL", ErrBadUnsubscribe, v)
	}
	if err := checkURIChars(v); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %.60q is not a URL with a host", ErrBadUnsubscribe, v)
	}
	return nil
}

// mailtoURI turns "box@example.com", or the same with "mailto:" and a
// query, into a mailto URI, checking the address.
func mailtoURI(v string) (string, error) {
	rest := v
	if len(v) >= len(mailtoPrefix) && strings.EqualFold(v[:len(mailtoPrefix)], mailtoPrefix) {
		rest = v[len(mailtoPrefix):]
	}
	if err := checkURIChars(rest); err != nil {
		return "", err
	}
	addr, _, _ := strings.Cut(rest, "?")
	a, err := netmail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return "", fmt.Errorf("%w: %.60q is not a mailto address", ErrBadUnsubscribe, v)
	}
	return mailtoPrefix + rest, nil
}

// checkURIChars refuses characters RFC 3986 does not allow in a URI, such
// as spaces, angle brackets and anything outside ASCII: they would end the
// <URI> of the header early or be read differently by each receiver.
func checkURIChars(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0 {
			continue
		}
		return fmt.Errorf("%w: character %q in %.60q must be percent-encoded (use urlquery)", ErrBadUnsubscribe, c, v)
	}
	return nil
}
