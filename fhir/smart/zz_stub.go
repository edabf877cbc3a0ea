package smart

import (
	"context"
	"net/http"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
)

type Config struct {
	Issuer       string
	DB           *pebble.DB
	Prefix       []byte
	Now          func() time.Time
	Authenticate func(r *http.Request) (ptoy.ID, error)
	Principal    func(account ptoy.ID) (Principal, error)
	Admin        func(r *http.Request) (ptoy.ID, error)
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
}
type Principal struct {
	Account  ptoy.ID
	Org      ptoy.ID
	Patient  bool
	FHIRUser string
}
type Server struct{}

func New(cfg Config) (*Server, error)               { return &Server{}, nil }
func (s *Server) Handler() http.Handler             { return http.NotFoundHandler() }
func (s *Server) Configuration() []byte             { return []byte(`{}`) }
func (s *Server) Verify(r *http.Request) (*Grant, error) { return nil, ptoy.E("smart", ptoy.Unauthenticated, "no") }

type Kind int

const (
	KindPatient Kind = iota + 1
	KindUser
	KindSystem
)

type Grant struct {
	Client   string
	Kind     Kind
	Account  ptoy.ID
	Org      ptoy.ID
	Patient  ptoy.ID
	Scopes   Scopes
	FHIRUser string
	Expires  time.Time
}
type Scopes struct{}

func ParseScopes(s string) (Scopes, error)                        { return Scopes{}, nil }
func (s Scopes) Allows(k Kind, t string, i byte) bool             { return true }
func (s Scopes) String() string                                   { return "" }
func (s *Server) IssueToken(g Grant, ttl time.Duration) (string, error) { return "", nil }
var _ = context.Background
