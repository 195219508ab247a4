package mtasts_test

import (
	"errors"
	"testing"

	"github.com/daned/daned/mtasts"
)

func TestParseRecord(t *testing.T) {
	for _, tt := range []struct {
		name   string
		txt    string
		wantID string // "" means invalid
	}{
		{name: "RFC example", txt: "v=STSv1; id=20160831085700Z;", wantID: "20160831085700Z"},
		{name: "no spaces, no trailing semicolon", txt: "v=STSv1;id=abc", wantID: "abc"},
		{name: "tabs and spaces around the delimiter", txt: "v=STSv1 \t;\t id=abc \t; ", wantID: "abc"},
		{name: "32 characters", txt: "v=STSv1; id=0123456789abcdefABCDEF0123456789", wantID: "0123456789abcdefABCDEF0123456789"},
		{name: "extension ignored", txt: "v=STSv1; ext_1.x-y=some!value; id=1", wantID: "1"},
		{name: "first id wins", txt: "v=STSv1; id=first; id=second", wantID: "first"},
		{name: "no id", txt: "v=STSv1;"},
		{name: "version only", txt: "v=STSv1"},
		{name: "empty id", txt: "v=STSv1; id="},
		{name: "33 characters", txt: "v=STSv1; id=0123456789abcdefABCDEF0123456789x"},
		{name: "id with a hyphen", txt: "v=STSv1; id=2024-01-01"},
		{name: "later id invalid", txt: "v=STSv1; id=ok; id=not-ok"},
		{name: "space inside the id", txt: "v=STSv1; id=a b"},
		{name: "empty field", txt: "v=STSv1;; id=abc"},
		{name: "field without '='", txt: "v=STSv1; id=abc; flag"},
		{name: "extension with '='", txt: "v=STSv1; id=abc; x=a=b"},
		{name: "extension with an empty value", txt: "v=STSv1; id=abc; x="},
		{name: "bad field name", txt: "v=STSv1; id=abc; _x=1"},
		{name: "space around '='", txt: "v=STSv1; id = abc"},
		{name: "text before the first delimiter", txt: "v=STSv1 id=abc"},
		{name: "version is case-sensitive", txt: "v=stsv1; id=abc"},
		{name: "field names are case-sensitive", txt: "v=STSv1; ID=abc"},
		{name: "other version", txt: "v=STSv10; id=abc"},
		{name: "non-ASCII id", txt: "v=STSv1; id=ä"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := mtasts.ParseRecord(tt.txt)
			if tt.wantID == "" {
				if err == nil {
					t.Fatalf("ParseRecord(%q) = %+v, want an error", tt.txt, rec)
				}
				if !errors.Is(err, mtasts.ErrInvalidRecord) {
					t.Errorf("error %v does not wrap ErrInvalidRecord", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord(%q): %v", tt.txt, err)
			}
			if rec.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", rec.ID, tt.wantID)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	for _, tt := range []struct {
		name    string
		txts    []string
		wantID  string
		wantErr error
	}{
		{name: "one record", txts: []string{"v=STSv1; id=abc"}, wantID: "abc"},
		{name: "others ignored", txts: []string{"v=spf1 -all", "v=STSv1; id=abc", "google-site-verification=x"}, wantID: "abc"},
		{name: "nothing at all", txts: nil, wantErr: mtasts.ErrNoRecord},
		{name: "no STS record", txts: []string{"v=spf1 -all"}, wantErr: mtasts.ErrNoRecord},
		{name: "look-alike version is not STS", txts: []string{"v=STSv10; id=abc"}, wantErr: mtasts.ErrNoRecord},
		{name: "two records", txts: []string{"v=STSv1; id=abc", "v=STSv1; id=def"}, wantErr: mtasts.ErrSeveralRecords},
		{name: "two identical records", txts: []string{"v=STSv1; id=abc", "v=STSv1; id=abc"}, wantErr: mtasts.ErrSeveralRecords},
		{name: "an invalid one counts", txts: []string{"v=STSv1; id=abc", "v=STSv1; id=no-good"}, wantErr: mtasts.ErrSeveralRecords},
		{name: "one invalid record", txts: []string{"v=STSv1; id="}, wantErr: mtasts.ErrInvalidRecord},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := mtasts.Discover(tt.txts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Discover(%q) = %+v, %v; want %v", tt.txts, rec, err, tt.wantErr)
				}
				return
			}
			if err != nil || rec.ID != tt.wantID {
				t.Fatalf("Discover(%q) = %+v, %v; want id %q", tt.txts, rec, err, tt.wantID)
			}
		})
	}
}
