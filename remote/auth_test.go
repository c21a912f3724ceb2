package remote_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-29c11ff2/workers"
	"github.com/seed-29c11ff2/workers/remote"
)

// touched counts the invocations of Guarded: a refused request must not
// reach it.
var touched atomic.Int64

// Guarded is a worker whose every call leaves a mark.
type Guarded struct{ workers.Entrypoint }

func (w *Guarded) Touch() int64 { return touched.Add(1) }

func (w *Guarded) Props() any { return w.Ctx.Props() }

func (w *Guarded) Fetch(r *http.Request) (*http.Response, error) {
	touched.Add(1)
	return workers.NewResponse(http.StatusOK, "touched"), nil
}

func guardedRegistry(t *testing.T) *workers.Registry {
	reg := newRegistry(t)
	require.NoError(t, reg.Register("todo-app", workers.Worker{
		Default:     workers.New[Guarded](),
		Entrypoints: map[string]workers.Constructor{"AdminEntrypoint": workers.New[Guarded]()},
	}))
	require.NoError(t, reg.Register("billing", workers.Worker{Default: workers.New[Guarded]()}))
	return reg
}

type authCase struct {
	name       string
	client     string // a token or a certificate's name; "" for none
	service    string
	entrypoint string
	method     string // "Fetch" for a Fetch
	want       error  // nil: allowed
}

// The cases both credentials must pass: each reaches only what it was given.
var authCases = []authCase{
	{"admin may call admin", "admin", "todo-app", "AdminEntrypoint", "Touch", nil},
	{"admin may fetch admin", "admin", "todo-app", "AdminEntrypoint", "Fetch", nil},
	{"admin may not call default", "admin", "todo-app", "", "Touch", remote.ErrPermissionDenied},
	{"admin may not call billing", "admin", "billing", "", "Touch", remote.ErrPermissionDenied},
	{"reader may call one method", "reader", "todo-app", "", "Props", nil},
	{"reader may not call another", "reader", "todo-app", "", "Touch", remote.ErrPermissionDenied},
	{"reader may not fetch", "reader", "todo-app", "", "Fetch", remote.ErrPermissionDenied},
	{"reader may not reach a named entrypoint", "reader", "todo-app", "AdminEntrypoint", "Props", remote.ErrPermissionDenied},
	{"ops may call any entrypoint", "ops", "todo-app", "AdminEntrypoint", "Touch", nil},
	{"ops may call any service", "ops", "billing", "", "Fetch", nil},
	{"an unknown service is forbidden, not missing", "admin", "ghost", "", "Touch", remote.ErrPermissionDenied},
}

var allows = map[string][]remote.Allow{
	"admin":  {{Service: "todo-app", Entrypoint: "AdminEntrypoint"}},
	"reader": {{Service: "todo-app", Methods: []string{"Props"}}},
	"ops":    {{Service: "*", Entrypoint: "*"}},
}

// runAuthCases runs the cases, with caller making the calling registry of
// a client.
func runAuthCases(t *testing.T, cases []authCase, caller func(client string) *workers.Registry) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			reg := caller(tt.client)
			b := reg.Bind(workers.Service{Service: tt.service, Entrypoint: tt.entrypoint})
			before := touched.Load()
			var err error
			if tt.method == "Fetch" {
				var resp *http.Response
				resp, err = b.Fetch(httptest.NewRequest(http.MethodGet, "http://x/", nil))
				if err == nil {
					_ = resp.Body.Close()
				}
			} else {
				_, err = b.Call(context.Background(), tt.method)
			}
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, before, touched.Load(), "a refused request reached a worker")
		})
	}
}

func TestBearerTokens(t *testing.T) {
	var opts []remote.HandlerOption
	for name, allow := range allows {
		opts = append(opts, remote.AllowToken("token-of-"+name, allow...))
	}
	base := serve(t, guardedRegistry(t), opts...)
	callers := map[string]*workers.Registry{}
	caller := func(client string) *workers.Registry {
		if callers[client] == nil {
			var opts []remote.ClientOption
			switch client {
			case "":
			case "forged":
				opts = append(opts, remote.WithBearerToken("not-a-token"))
			default:
				opts = append(opts, remote.WithBearerToken("token-of-"+client))
			}
			callers[client] = dial(t, base, []string{"todo-app", "billing", "ghost"}, opts...)
		}
		return callers[client]
	}
	runAuthCases(t, append(authCases,
		authCase{"no token", "", "todo-app", "", "Touch", remote.ErrUnauthenticated},
		authCase{"no token fetch", "", "todo-app", "", "Fetch", remote.ErrUnauthenticated},
		authCase{"a forged token", "forged", "todo-app", "AdminEntrypoint", "Touch", remote.ErrUnauthenticated},
		authCase{"a forged token fetch", "forged", "todo-app", "AdminEntrypoint", "Fetch", remote.ErrUnauthenticated},
	), caller)

	// Props are the caller's to set once it is authenticated.
	b := caller("reader").Bind(workers.Service{Service: "todo-app", Props: map[string]any{"clientId": "frontend"}})
	p, err := b.Call(context.Background(), "Props")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"clientId": "frontend"}, p)
}

// A handler that was given no credentials says so, and serves nobody.
func TestNoCredentialsRefusesAll(t *testing.T) {
	base := serve(t, guardedRegistry(t))
	caller := dial(t, base, []string{"todo-app"}, remote.WithBearerToken("anything"))
	before := touched.Load()
	_, err := caller.Bind(workers.Service{Service: "todo-app"}).Call(context.Background(), "Touch")
	assert.ErrorIs(t, err, remote.ErrUnauthenticated)
	assert.Contains(t, err.Error(), "InsecureAllowAll")
	assert.Equal(t, before, touched.Load())
}

func TestClientCertificates(t *testing.T) {
	pki := newPKI(t)
	var opts []remote.HandlerOption
	for name, allow := range allows {
		opts = append(opts, remote.AllowCertificate(name+".clients.internal", allow...))
	}
	mux := http.NewServeMux()
	mux.Handle(remote.NewHandler(guardedRegistry(t), opts...))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.issue(t, "server", "127.0.0.1")},
		ClientCAs:    pki.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	callers := map[string]*workers.Registry{}
	caller := func(client string) *workers.Registry {
		if callers[client] == nil {
			cfg := &tls.Config{RootCAs: pki.pool}
			switch client {
			case "":
			case "stranger":
				cfg.Certificates = []tls.Certificate{newPKI(t).issue(t, "admin.clients.internal", "")}
			default:
				cfg.Certificates = []tls.Certificate{pki.issue(t, client+".clients.internal", "")}
			}
			callers[client] = dial(t, srv.URL, []string{"todo-app", "billing", "ghost"}, remote.WithTLSConfig(cfg))
		}
		return callers[client]
	}
	runAuthCases(t, append(authCases,
		authCase{"no certificate", "", "todo-app", "", "Touch", remote.ErrUnauthenticated},
		authCase{"a certificate of an unknown name", "intruder", "todo-app", "", "Touch", remote.ErrPermissionDenied},
	), caller)

	// A certificate from another CA does not even get through TLS.
	_, err := caller("stranger").Bind(workers.Service{Service: "todo-app", Entrypoint: "AdminEntrypoint"}).Call(context.Background(), "Touch")
	assert.Error(t, err)
}

// pki is a throwaway certificate authority.
type pki struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &pki{key: key, cert: cert, pool: pool}
}

// issue makes a certificate for name: a server's for ip, a client's when
// ip is "".
func (p *pki) issue(t *testing.T, name, ip string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if ip != "" {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
