package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	daneclient "github.com/daned/daned/clients/go"
	"github.com/daned/daned/internal/danedtest"
)

// TestDeliver delivers real messages to the test world's SMTP servers
// through daned and checks where they arrived.
func TestDeliver(t *testing.T) {
	env := danedtest.Start(t)
	daned, err := daneclient.Dial(env.Addr, daneclient.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daned.Close() })
	tests := []struct {
		name     string
		domain   string
		at       string // the host that must receive it; "" when nothing may be delivered
		tls      bool
		code     string // the failure's code when not delivered
		notAt    []string
		wantText string
	}{
		{name: "DANE-EE", domain: "ee-spki.test", at: "mx.ee-spki.test", tls: true},
		{name: "DANE-TA", domain: "ta.test", at: "mx.ta.test", tls: true},
		{name: "falls back past a host whose chain DANE rejects", domain: "two-mx.test", at: "mx2.two-mx.test", tls: true, notAt: []string{"mx1.two-mx.test"}},
		{name: "opportunistic", domain: "notlsa.test", at: "mx.notlsa.test", tls: true},
		{name: "TLSA mismatch defers", domain: "mismatch.test", code: "4.7.323", notAt: []string{"mx.mismatch.test"}, wantText: "TLSA_NO_MATCH"},
		{name: "refuses cleartext when DANE is required", domain: "nostarttls.test", code: "4.7.321", notAt: []string{"mx.nostarttls.test"}, wantText: "STARTTLS not offered"},
		{name: "expired DANE-TA chain defers", domain: "ta-expired.test", code: "4.7.322", notAt: []string{"mx.ta-expired.test"}},
		{name: "null MX bounces", domain: "nullmx.test", code: "5.1.10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			body := "Subject: " + tc.name + "\r\n\r\nhello over DANE\r\n"
			m := message{From: "sender@client.test", To: "rcpt@" + tc.domain, Data: []byte(body),
				Helo: "client.test", Port: env.World.SMTPPort(), Timeout: 20 * time.Second}
			d, err := deliver(ctx, daned, m)
			if tc.at == "" {
				var f *Failure
				if !errors.As(err, &f) || f.Code != tc.code {
					t.Fatalf("deliver: %v (delivered %+v), want a failure with %s", err, d, tc.code)
				}
				if tc.wantText != "" && !strings.Contains(err.Error(), tc.wantText) {
					t.Errorf("failure %q lacks %q", err, tc.wantText)
				}
			} else {
				if err != nil {
					t.Fatalf("deliver: %v", err)
				}
				if d.Host != tc.at || d.TLS != tc.tls {
					t.Fatalf("delivered to %s (TLS %v), want %s (TLS %v)", d.Host, d.TLS, tc.at, tc.tls)
				}
				got := env.World.Received(tc.at)
				if len(got) != 1 || !strings.Contains(string(got[0].Data), "Subject: "+tc.name) || got[0].TLS != tc.tls ||
					got[0].To[0] != "TO:<rcpt@"+tc.domain+">" {
					t.Fatalf("%s received %+v, want the one message", tc.at, got)
				}
			}
			for _, h := range tc.notAt {
				if got := env.World.Received(h); len(got) != 0 {
					t.Errorf("%s received %d messages, want none", h, len(got))
				}
			}
		})
	}
}
