package cmd

import (
	"os"
	"reflect"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/mailblast/mailblast/campaign"
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
		env := envName(key)
		if os.Getenv(env) != "" || v.InConfig(key) {
			set[key] = true
		}
	}
	if v.InConfig("smtp.relays") {
		set["smtp.relays"] = true
	}
	return set
}

// overlayFields copies onto dst, a stored settings struct, the fields of
// src whose keys under prefix this run set, and with fillUnset those the
// campaign stored empty (a campaign stored before the setting existed).
// Fields are matched by their mapstructure tag, the key itself, so a new
// setting needs no entry here.
func (c *Config) overlayFields(prefix string, dst, src any, fillUnset bool) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for _, f := range reflect.VisibleFields(d.Type()) {
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "" || name == "-" {
			continue
		}
		if field := d.FieldByIndex(f.Index); c.explicit[joinKey(prefix, name)] || fillUnset && field.IsZero() {
			field.Set(s.FieldByIndex(f.Index))
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
	c.overlayFields("smtp", &s.SMTP, cur, false)
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
	if c.explicit["seeds"] {
		s.Seeds = c.Seeds
	}
	if c.explicit["seed_fields"] {
		s.SeedFields = c.SeedFields
	}
	c.overlayFields("", &s.Window, c.Window, false)
	c.overlayFields("retry", &s.Retry, c.Retry, true)
	return s
}
