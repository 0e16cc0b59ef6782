package templates

import (
	"encoding/json"
	"testing"
)

// TestOptionsStoredShape: campaigns store Options as JSON and read it back
// on resume, so the shape campaigns already stored must still read: before
// the unsubscribe settings were one struct, the signed link was stored
// beside Unsubscribe as "OneClick".
func TestOptionsStoredShape(t *testing.T) {
	legacy := `{"Path":"/x/msg.tmpl","HTMLPath":"/x/m.html","Unsubscribe":{"URL":"","Mailto":"u@acme.example"},` +
		`"OneClick":{"BaseURL":"https://acme.example/mb","SecretFile":"/x/secret"},"DKIM":{"Domain":"acme.example","Selector":"s","KeyFile":"/x/k.pem"}}`
	var o Options
	if err := json.Unmarshal([]byte(legacy), &o); err != nil {
		t.Fatal(err)
	}
	want := Unsubscribe{Mailto: "u@acme.example", OneClick: OneClick{BaseURL: "https://acme.example/mb", SecretFile: "/x/secret"}}
	if o.Unsubscribe != want || o.HTMLPath != "/x/m.html" || o.DKIM == nil || o.DKIM.KeyFile != "/x/k.pem" {
		t.Fatalf("legacy read as %+v (unsubscribe %+v)", o, o.Unsubscribe)
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back Options
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Unsubscribe != want || back.HTMLPath != o.HTMLPath || *back.DKIM != *o.DKIM {
		t.Errorf("round trip of %s read as %+v", b, back)
	}
}
