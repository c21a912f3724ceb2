package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// Errors of a package that registers nothing for the whole process.
var ErrOutOfStock = errors.New("shop: out of stock")

type BackorderError struct{ Days int }

func (e *BackorderError) Error() string { return fmt.Sprintf("shop: back in %d days", e.Days) }

// ShopErrors is what package shop would declare once, for both sides.
var ShopErrors = remote.WithErrors(
	remote.Sentinel("shop.ErrOutOfStock", ErrOutOfStock),
	remote.ErrorType[*BackorderError]("shop.BackorderError"),
)

type Shop struct{ workers.Entrypoint }

func (w *Shop) Fetch(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("fetch: %w", ErrOutOfStock)
}

func (w *Shop) Buy(item string) error {
	if item == "later" {
		return fmt.Errorf("buy %s: %w", item, &BackorderError{Days: 3})
	}
	return fmt.Errorf("buy %s: %w", item, ErrOutOfStock)
}

// Identity crosses only for errors both sides know under the same name:
// WithErrors, given the same list on both sides, is enough; without it,
// or on one side only, the caller gets the message alone.
func TestKnownErrors(t *testing.T) {
	shop := func(t *testing.T, server, client []remote.Option) *workers.Binding {
		reg := newRegistry(t)
		require.NoError(t, reg.Register("shop", workers.Worker{Default: workers.New[Shop]()}))
		hopts := []remote.HandlerOption{remote.InsecureAllowAll()}
		for _, o := range server {
			hopts = append(hopts, o)
		}
		var copts []remote.ClientOption
		for _, o := range client {
			copts = append(copts, o)
		}
		return dial(t, serve(t, reg, hopts...), []string{"shop"}, copts...).Bind(workers.Service{Service: "shop"})
	}
	both := []remote.Option{ShopErrors}
	tests := []struct {
		name           string
		server, client []remote.Option
		known          bool
	}{
		{"both sides", both, both, true},
		{"neither side", nil, nil, false},
		{"the serving side only", both, nil, false},
		{"the calling side only", nil, both, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := shop(t, tt.server, tt.client)
			ctx := context.Background()
			_, err := b.Call(ctx, "Buy", "socks")
			require.Error(t, err)
			assert.Equal(t, "buy socks: shop: out of stock", err.Error(), "the message always crosses")
			assert.Equal(t, tt.known, errors.Is(err, ErrOutOfStock))

			_, err = b.Call(ctx, "Buy", "later")
			require.Error(t, err)
			assert.Equal(t, "buy later: shop: back in 3 days", err.Error())
			var be *BackorderError
			if assert.Equal(t, tt.known, errors.As(err, &be)) && tt.known {
				assert.Equal(t, 3, be.Days)
			}
		})
	}

	t.Run("a Fetch", func(t *testing.T) {
		_, err := shop(t, both, both).Fetch(httptest.NewRequest(http.MethodGet, "http://shop/", nil))
		assert.ErrorIs(t, err, ErrOutOfStock)
		_, err = shop(t, nil, nil).Fetch(httptest.NewRequest(http.MethodGet, "http://shop/", nil))
		assert.NotErrorIs(t, err, ErrOutOfStock)
		assert.ErrorContains(t, err, "shop: out of stock")
	})

	// A config loader's Transports get the list through Dialer.
	t.Run("Dialer", func(t *testing.T) {
		reg := newRegistry(t)
		require.NoError(t, reg.Register("shop", workers.Worker{Default: workers.New[Shop]()}))
		tr, err := remote.Dialer(ShopErrors)("shop", serve(t, reg, remote.InsecureAllowAll(), ShopErrors))
		require.NoError(t, err)
		caller := newRegistry(t)
		require.NoError(t, caller.RegisterRemote("shop", tr))
		_, err = caller.Bind(workers.Service{Service: "shop"}).Call(context.Background(), "Buy", "socks")
		assert.ErrorIs(t, err, ErrOutOfStock)
	})
}

func TestWithErrorsRefusesClashes(t *testing.T) {
	other := errors.New("other")
	assert.Panics(t, func() {
		remote.WithErrors(remote.Sentinel("x", ErrOutOfStock), remote.Sentinel("x", other))
	})
	assert.Panics(t, func() {
		remote.WithErrors(remote.ErrorType[*BackorderError]("a"), remote.ErrorType[*BackorderError]("b"))
	})
	assert.Panics(t, func() { remote.WithErrors(remote.Sentinel("invalid_argument", other)) }, "a name of the runtime's")
	assert.Panics(t, func() { remote.Sentinel("", other) })
	assert.Panics(t, func() { remote.ErrorType[error]("iface") })
	assert.Panics(t, func() { remote.WithErrors(remote.KnownError{}) })
	assert.Panics(t, func() {
		remote.NewHandler(newRegistry(t), remote.WithErrors(remote.Sentinel("x", ErrOutOfStock)), remote.WithErrors(remote.Sentinel("x", other)))
	})
	assert.NotPanics(t, func() {
		remote.NewHandler(newRegistry(t), ShopErrors, ShopErrors, remote.WithErrors(remote.Sentinel("invalid_argument", workers.ErrInvalidArgument)))
	})
}
