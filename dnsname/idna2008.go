package dnsname

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// checkIDNA2008 applies the parts of RFC 5892 that the UTS #46 lookup
// profile leaves out: every code point of a U-label must be PVALID, or
// CONTEXTO with its rule satisfied (CONTEXTJ is checked by the profile).
// name is the A-label form; each xn-- label is decoded and checked, so an
// A-label typed by the caller gets the same scrutiny as a U-label.
func checkIDNA2008(name string) error {
	for _, l := range strings.Split(name, ".") {
		if !strings.HasPrefix(l, "xn--") {
			continue // LDH, already checked by the profile's STD3 rules
		}
		u, err := profile.ToUnicode(l)
		if err != nil {
			return err
		}
		if err := checkLabel([]rune(u)); err != nil {
			return fmt.Errorf("label %q: %w", u, err)
		}
	}
	return nil
}

var errContextO = errors.New("a CONTEXTO code point outside its context (RFC 5892 Appendix A)")

func checkLabel(l []rune) error {
	if len(l) > 0 && unicode.In(l[0], unicode.Mn, unicode.Mc, unicode.Me) {
		return errors.New("starts with a combining mark (RFC 5891 §4.2.3.2)")
	}
	hasArabicIndic, hasExtArabicIndic := false, false
	for i, r := range l {
		switch {
		case r >= 0x0660 && r <= 0x0669:
			hasArabicIndic = true
			continue
		case r >= 0x06F0 && r <= 0x06F9:
			hasExtArabicIndic = true
			continue
		}
		switch r {
		case 0x00B7: // MIDDLE DOT: only between two "l" (Catalan l·l)
			if i == 0 || i == len(l)-1 || l[i-1] != 'l' || l[i+1] != 'l' {
				return errContextO
			}
			continue
		case 0x0375: // GREEK LOWER NUMERAL SIGN: followed by Greek
			if i == len(l)-1 || !unicode.Is(unicode.Greek, l[i+1]) {
				return errContextO
			}
			continue
		case 0x05F3, 0x05F4: // HEBREW GERESH, GERSHAYIM: after Hebrew
			if i == 0 || !unicode.Is(unicode.Hebrew, l[i-1]) {
				return errContextO
			}
			continue
		case 0x30FB: // KATAKANA MIDDLE DOT: in a Japanese label
			if !hasJapanese(l) {
				return errContextO
			}
			continue
		case 0x200C, 0x200D: // CONTEXTJ: the profile has checked them
			continue
		case 0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007, '-':
			continue // PVALID by exception (RFC 5892 §2.6) or LDH
		}
		if isOldHangulJamo(r) {
			return fmt.Errorf("U+%04X is DISALLOWED (old Hangul jamo, RFC 5892 §2.9)", r)
		}
		// RFC 5892 §2.1 LetterDigits: only these categories are PVALID.
		if !unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo, unicode.Nd, unicode.Lm, unicode.Mn, unicode.Mc) {
			return fmt.Errorf("U+%04X %q is DISALLOWED in IDNA 2008 (RFC 5892 §2.1: not a letter, digit or mark)", r, r)
		}
	}
	if hasArabicIndic && hasExtArabicIndic {
		return errors.New("mixes Arabic-Indic and Extended Arabic-Indic digits (RFC 5892 Appendix A.8, A.9)")
	}
	return nil
}

func hasJapanese(l []rune) bool {
	for _, r := range l {
		if r != 0x30FB && unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
			return true
		}
	}
	return false
}

func isOldHangulJamo(r rune) bool {
	return r >= 0x1100 && r <= 0x11FF || r >= 0xA960 && r <= 0xA97F || r >= 0xD7B0 && r <= 0xD7FF
}
