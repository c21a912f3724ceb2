package remote

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/seed-29c11ff2/workers/internal/link"
)

// The turns a peer sends are checked: what is not a token is dropped,
// and so is what is past link.MaxTurns or an over-long value.
func TestReceivedTurns(t *testing.T) {
	a, b := link.NewTurnToken(), link.NewTurnToken()
	many := make([]string, link.MaxTurns+3)
	for i := range many {
		many[i] = link.NewTurnToken()
	}
	for _, tc := range []struct {
		name, value string
		want        []string
	}{
		{"two tokens", a + "," + b, []string{a, b}},
		{"malformed ones dropped", "x," + a + ",," + strings.ToUpper(b) + "," + a[:32] + "-", []string{a}},
		{"a token too long", a + strings.Repeat("1", 30), nil},
		{"too many", strings.Join(many[:link.MaxTurns+1], ","), many[:link.MaxTurns]},
		{"a value too long", a + "," + strings.Repeat("x", link.MaxTurns*(link.MaxTurnTokenBytes+1)), nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, receivedTurns(tc.value))
			ctx := withReceived(context.Background(), map[string]string{"Workers-Turns": tc.value, "other": "v"})
			assert.Equal(t, tc.want, link.TurnsOf(ctx))
			assert.Equal(t, map[string]string{"other": "v"}, Metadata(ctx), "the turns are not metadata of the callee")
		})
	}
}

// The reserved key cannot be set with WithMetadata: a caller's value would
// otherwise be sent as the call's turns.
func TestWithMetadataReservesTurns(t *testing.T) {
	ctx := WithMetadata(context.Background(), "Workers-Turns", link.NewTurnToken())
	assert.Empty(t, Metadata(ctx))
	assert.Empty(t, sentMetadata(ctx))
	tok := link.NewTurnToken()
	ctx = link.WithTurns(ctx, []string{tok})
	assert.Equal(t, map[string]string{turnsKey: tok}, sentMetadata(ctx), "received turns are passed on")
}
