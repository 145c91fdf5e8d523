package session

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func redactDefault(t testing.TB, s string) string {
	t.Helper()
	out, err := DefaultRedactor().Redact(context.Background(), s)
	require.NoError(t, err)
	return out
}

func TestDefaultRedactorFinds(t *testing.T) {
	tests := []struct{ in, want string }{
		// E-mail addresses.
		{"write to jane.doe@example.com today", "write to [EMAIL] today"},
		{"MIA.LI3818@Example.CO.UK.", "[EMAIL]."},
		{"a+tag@sub-domain.example.org,b_c@x.io", "[EMAIL],[EMAIL]"},
		{"<mailto:ops%team@corp.example.net>", "<mailto:[EMAIL]>"},
		// International phone numbers.
		{"call +1 415 555 2671 now", "call [PHONE] now"},
		{"+14155552671", "[PHONE]"},
		{"+1 (415) 555-2671", "[PHONE]"},
		{"+44 20 7946 0958", "[PHONE]"},
		{"+44 (0)20 7946 0958", "[PHONE]"},
		{"+49-30-1234567", "[PHONE]"},
		{"+33 1 23 45 67 89", "[PHONE]"},
		{"+91.98765.43210", "[PHONE]"},
		{"tel:+14155552671", "tel:[PHONE]"},
		{"(+1) 415 555 2671", "([PHONE]"}, // "(+" is not a number start; "+1 ..." is
		// North American numbers.
		{"415-555-2671", "[PHONE]"},
		{"415.555.2671", "[PHONE]"},
		{"415 555 2671", "[PHONE]"},
		{"(415) 555-2671", "[PHONE]"},
		{"(415)555-2671", "[PHONE]"},
		{"1-800-555-0199", "[PHONE]"},
		{"1 (800) 555-0199", "[PHONE]"},
		{"call 415 555 2671 2 times", "call [PHONE] 2 times"},
		{"room 12 415 555 2671", "room 12 [PHONE]"},
		// National numbers with a trunk prefix.
		{"020 7946 0958", "[PHONE]"},
		{"07700 900123", "[PHONE]"},
		{"01 23 45 67 89", "[PHONE]"},
		{"030-1234567", "[PHONE]"},
		{"(020) 7946 0958", "[PHONE]"},
		// Payment cards (Luhn-valid).
		{"card 4111 1111 1111 1111 exp 12/25", "card [CARD] exp 12/25"},
		{"4111-1111-1111-1111", "[CARD]"},
		{"4111111111111111", "[CARD]"},
		{"card:5500000000000004", "card:[CARD]"},
		{"amex 3782 822463 10005.", "amex [CARD]."},
		{"4111 1111 1111 1111 12/25", "[CARD] 12/25"},
		{"visa 4012888888881881, mc 5105105105105100", "visa [CARD], mc [CARD]"},
		{"6011000990139424 is 16", "[CARD] is 16"},
		{"19 digits 6304000000000000000?", "19 digits [CARD]?"},
		// Several kinds at once.
		{"jane@x.io / +1 415 555 2671 / 4111111111111111", "[EMAIL] / [PHONE] / [CARD]"},

		// Unicode spaces and dashes separate groups like their ASCII forms;
		// the replacement is made in the original text.
		{"call 415\u00a0555\u00a02671 now", "call [PHONE] now"},            // no-break spaces
		{"card 4111\u202f1111\u202f1111\u202f1111.", "card [CARD]."},       // narrow no-break spaces
		{"4111\u20071111\u20071111\u20071111", "[CARD]"},                   // figure spaces
		{"415\u2011555\u20112671", "[PHONE]"},                              // non-breaking hyphens
		{"415\u2013555\u20132671", "[PHONE]"},                              // en dashes
		{"+44\u00a020\u00a07946\u00a00958", "[PHONE]"},                     // no-break spaces after "+"
		{"pay 4111 - 1111 - 1111 - 1111 today", "pay [CARD] today"},        // " - " between groups
		{"415 - 555 - 2671", "[PHONE]"},                                    // " - " between groups
		{"4111  1111  1111  1111", "[CARD]"},                               // double spaces between groups
		{"4111\u00a0\u00a01111\u00a0\u00a01111\u00a0\u00a01111", "[CARD]"}, // double no-break spaces
		// The "00" international prefix.
		{"0044 20 7946 0958", "[PHONE]"},
		{"00 44 20 7946 0958", "[PHONE]"},
		{"dial 001 415 555 2671", "dial [PHONE]"},
		{"0033 1 23 45 67 89", "[PHONE]"},
		// A card number after an abbreviation's dot.
		{"card no.4111111111111111", "card no.[CARD]"},
		{"Card No.4111111111111111", "Card No.[CARD]"},
		{"tel.020 7946 0958", "tel.[PHONE]"},
		// A cue word makes an ungrouped national number a phone number.
		{"call 02079460958", "call [PHONE]"},
		{"phone: 0456-7890-12", "phone: [PHONE]"},
		{"reach me on 020 7946 0958", "reach me on [PHONE]"},
		// Internationalised e-mail addresses.
		{"write to josé@example.com", "write to [EMAIL]"},
		{"ünal@exämple.de", "[EMAIL]"},
		{"jane@例え.jp", "[EMAIL]"},
		{"иван@пример.рф", "[EMAIL]"},
		{"メールはjane@example.comです", "メールは[EMAIL]です"},
		{"jane＠example.com", "[EMAIL]"},
		// JSON escapes: a letter escape is a boundary, \uXXXX is the
		// character it stands for.
		{`{"note":"call\n415-555-2671"}`, `{"note":"call\n[PHONE]"}`},
		{`line one\n4111 1111 1111 1111`, `line one\n[CARD]`},
		{`"jane\u0040example.com"`, `"[EMAIL]"`},
		{`jos\u00e9@example.com`, `[EMAIL]`},
		{`call\t+1 415 555 2671`, `call\t[PHONE]`},
		{`\u0034111111111111111`, `[CARD]`},
		// What a replacement leaves is classified as it will be next time.
		{"4111 1111 1111 1111 4111111111111111", "[CARD] [CARD]"},
		{"4111111111111111 020 7946 0958", "[CARD] [PHONE]"},
		{"12+14155552671", "12[PHONE]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, redactDefault(t, tt.in))
		})
	}
}

func TestDefaultRedactorLeavesAlone(t *testing.T) {
	for _, s := range []string{
		"order 88123",
		"order number 1234567890",              // ungrouped 10 digits: indistinguishable from an order number
		"order 4111111111111112",               // Luhn fails
		"ticket 12345678901234567890123",       // too long to be a card
		"ORD-2024-000123",                      // reference
		"ref 2024-000123-77",                   // reference
		"2024-05-15",                           // date
		"2024-05-15 15:00:00 EST",              // date and time
		"2024-01-06T07:34:43.252",              // timestamp
		"15/05/2024 and 05.15.2024",            // dates
		"07:34:43",                             // time
		"$1,234.56 and €1.234,56",              // prices
		"1 000 000 000 dollars",                // amount with thousands groups
		"10 20 30 40 50 60",                    // a list of numbers
		"192.168.100.200",                      // IPv4
		"2001:db8:85a3::8a2e:370:7334",         // IPv6
		"cd0c20e2-338d-485f-91ca-cb34766d1ceb", // UUID
		"HAT030 on May 13, 2024",               // flight and date
		"flight UA 1234 seat 12C gate B22",     // flight
		"reservation 3FRNFB, card ending 7447", // codes and last four digits
		"version 1.2.3.4567890123",             // version string
		"user@localhost",                       // no domain
		"@handle and name@",                    // no address
		"pay 4111 1111 1111 1112 now",          // grouped but Luhn fails
		"0000 0000 0000",                       // zeros: not a phone, too short for a card
		"00 44 20 7946",                        // too few digits with double zero
		"zip 78750, 94103-1234",                // postal codes

		// Order numbers and references: a card is never a part of a longer
		// run, a run of one digit is no card, and a national number needs
		// phone-like grouping or a cue word.
		"9400 1000 0000 0000 0000 00",          // 22-digit tracking number
		"9400 1000 0000 0000 0000",             // 20-digit tracking number
		"tracking 9205 5000 0000 0000 0000 00", // USPS
		"0000 0000 0000 0000",                  // all zeros pass Luhn
		"1111-1111-1111-1111",                  // one digit repeated
		"4111 111 1111 1111 11",                // a valid number, not grouped like a card
		"41 1111 1111 1111 11",                 // a valid number, not grouped like a card
		"SKU 0456-7890-12",                     // grouped like no phone
		"0456-7890-12",                         // grouped like no phone, no cue
		"order 012 3456 7890",                  // a cue word says what it is
		"order number 020 7946 0958",           // the cue word is two words back
		"invoice #0161 496 0000",               // cue word, then "#"
		"1Z 999 AA1 01 2345 6784",              // UPS: follows a code of letters and digits
		"01 02 2024 10 30",                     // a date and a time
		"ref 00 44 20 7946 0958",               // "00" number after a cue word
		"0012 3456 7890 1234 5678 90",          // too long for "00"
		"01 2345 67",                           // too short
	} {
		assert.Equal(t, s, redactDefault(t, s), "%q must survive", s)
	}
}

// TestDefaultRedactorLeavesTrackingNumbers redacts many made-up tracking
// and order numbers of 20 and 22 digits, grouped in fours: none may lose
// a card-shaped piece.
func TestDefaultRedactorLeavesTrackingNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, digits := range []int{20, 22} {
		for range 2000 {
			var b strings.Builder
			for i := range digits {
				if i > 0 && i%4 == 0 {
					b.WriteByte(' ')
				}
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			s := "tracking number " + b.String() + " shipped"
			require.Equal(t, s, redactDefault(t, s))
			require.Equal(t, b.String(), redactDefault(t, b.String()))
		}
	}
}

// TestDefaultRedactorIsIdempotent: redacting a redacted text changes
// nothing, for every case of the tables.
func TestDefaultRedactorIsIdempotent(t *testing.T) {
	for _, s := range []string{
		"4111 1111 1111 1111 4111111111111111 020 7946 0958",
		"0010 0000000000+00000000000011 00",
		"call 415 555 2671 or 0456 7890 12",
		"+14155552671-4111111111111111",
		"room 12 (415) 555-2671 0456-7890-12",
	} {
		once := redactDefault(t, s)
		assert.Equal(t, once, redactDefault(t, once), "%q", s)
	}
}

func TestDefaultRedactorContextAndLongInput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := DefaultRedactor().Redact(ctx, "x")
	assert.ErrorIs(t, err, context.Canceled)

	// Long adversarial inputs are handled, and redaction still works at the
	// end of them.
	for _, filler := range []string{
		strings.Repeat("1 ", 50_000),
		strings.Repeat("1-", 50_000),
		strings.Repeat("a", 100_000),
		strings.Repeat("a.", 50_000),
		strings.Repeat("+1 ", 30_000),
		strings.Repeat("(1) ", 30_000),
		strings.Repeat("9", 100_000),
		strings.Repeat("a@", 50_000),
		strings.Repeat("x.y@z", 30_000),
		"@" + strings.Repeat("a", 100_000) + "@",
	} {
		out := redactDefault(t, filler+" x jane@example.com")
		assert.True(t, strings.HasSuffix(out, " x [EMAIL]"))
	}
}

func BenchmarkDefaultRedactor(b *testing.B) {
	inputs := map[string]string{
		"chat":         strings.Repeat("Hi, my order 88123 has not arrived. Mail jane.doe@example.com or call +1 415 555 2671. ", 50),
		"digit-groups": strings.Repeat("1 2 3 4 5 6 7 8 9 ", 1_000),
		"prose":        strings.Repeat("The quick brown fox jumps over the lazy dog. ", 200),
	}
	r := DefaultRedactor()
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Redact(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRedactTextAndValueAsTheAssemblerDoes(t *testing.T) {
	ctx := context.Background()
	r := DefaultRedactor()
	out, err := RedactText(ctx, r, `{"mail":"jane\u0040example.com","card":4111111111111111}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"mail":"[EMAIL]","card":"[CARD]"}`, out, "JSON redacted value by value, escapes and numbers too")
	out, err = RedactText(ctx, r, "write to jane@example.com")
	require.NoError(t, err)
	assert.Equal(t, "write to [EMAIL]", out)
	v, err := RedactValue(ctx, r, map[string]any{"jane@example.com": 1.0, "card": 4111111111111111.0, "n": 3.0, "l": []any{"+1 415 555 0132"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"[EMAIL]": 1.0, "card": "[CARD]", "n": 3.0, "l": []any{"[PHONE]"}}, v)
	v, err = RedactValue(ctx, r, map[string]any{"a": int64(4111111111111111), "b": 4111111111111111, "c": float32(2), "d": json.Number("4111111111111111")})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": "[CARD]", "b": "[CARD]", "c": float32(2), "d": "[CARD]"}, v, "a card held as any number type")
	_, err = RedactText(ctx, RedactorFunc(func(context.Context, string) (string, error) { return "", errors.New("down") }), "x")
	var re *RedactionError
	assert.ErrorAs(t, err, &re)
}
