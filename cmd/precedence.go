package cmd

import (
	"os"
	"reflect"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/sender"
)

// explicitKeys are the keys this run's flags, environment or config file
// set, as opposed to defaults: on resume they win over what the campaign
// stored, and what they leave unset comes from the campaign.
func explicitKeys(v *viper.Viper, flags *pflag.FlagSet) map[string]bool {
	set := map[string]bool{}
	for name, key := range flagKeys {
		if f := flags.Lookup(name); f != nil && f.Changed {
			set[key] = true
		}
	}
	for _, key := range v.AllKeys() {
		env := "MAILBLAST_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if os.Getenv(env) != "" || v.InConfig(key) {
			set[key] = true
		}
	}
	if v.InConfig("smtp.relays") {
		set["smtp.relays"] = true
	}
	return set
}

// overlaySMTP copies onto stored the fields of cur whose keys this run
// set. A stored field's JSON name is its key under smtp. (host, port,
// max_messages_per_connection ...), so a new setting needs no entry here.
func (c *Config) overlaySMTP(stored *sender.Settings, cur sender.Settings) {
	dst, src := reflect.ValueOf(stored).Elem(), reflect.ValueOf(cur)
	for _, f := range reflect.VisibleFields(dst.Type()) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if c.explicit["smtp."+name] {
			dst.FieldByIndex(f.Index).Set(src.FieldByIndex(f.Index))
		}
	}
}

// overlay is a stored campaign's settings with what this run's flags,
// environment and config file set on top. The list, template and message
// files stay the campaign's: they are what it is.
func (c *Config) overlay(s campaign.Settings) campaign.Settings {
	cur := c.SMTP.Settings
	// Who logs in, and whether a password may go in clear, are today's
	// configuration's alone, like the password itself: a stored username
	// meeting a relay the current file names would send it the password.
	s.SMTP.Username, s.SMTP.AllowInsecureAuth = cur.Username, cur.AllowInsecureAuth
	s.SMTP.Auth, s.SMTP.OAuth2 = cur.Auth, cur.OAuth2 // how that account logs in
	c.overlaySMTP(&s.SMTP, cur)
	// A new tls without a port of its own takes that mode's port.
	if c.explicit["smtp.tls"] && !c.explicit["smtp.port"] {
		s.SMTP.Port = cur.Port
	}
	switch {
	case c.explicit["smtp.relays"]:
		s.Relays = c.relaySettings
	case c.explicit["smtp.host"]: // today's one relay replaces the stored ones
		s.Relays = nil
	}
	for i := range s.Relays { // stored relays too: never in clear unless today says so
		s.Relays[i].AllowInsecureAuth = cur.AllowInsecureAuth
	}
	if c.explicit["return_path"] {
		s.ReturnPath = c.ReturnPath
	}
	if c.explicit["retry.schedule"] || len(s.Retry.Schedule) == 0 {
		s.Retry.Schedule = c.Retry.Schedule
	}
	if c.explicit["retry.max_age"] || s.Retry.MaxAge <= 0 {
		s.Retry.MaxAge = c.Retry.MaxAge
	}
	return s
}
