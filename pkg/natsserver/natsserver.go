// Package natsserver runs an embedded NATS JetStream server, for
// `eventflow dev` and for tests.
package natsserver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/eventflow/eventflow/pkg/busauth"
)

// Config of an embedded server.
type Config struct {
	// Addr is the client listen address ("127.0.0.1:4222"); port 0 picks one.
	Addr string
	// StoreDir holds JetStream's files.
	StoreDir string
	// MaxPayload in bytes; invocations carry payloads up to the gateway's
	// body limit plus headers.
	MaxPayload int32
	// ServerName, and Cluster routes for a JetStream cluster (tests).
	ServerName  string
	ClusterName string
	ClusterAddr string
	Routes      []string
	// Auth, when set, makes the server trust only users signed by the
	// bus kit (busauth); nil leaves it open, as for most tests.
	Auth *busauth.Server
}

// Start runs the server and waits until it accepts clients and JetStream is
// ready.
func Start(cfg Config) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("nats address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		NoLog:      true,
	}
	if cfg.Auth != nil {
		if err := adoptAnonymousStore(cfg.StoreDir, cfg.Auth.Account); err != nil {
			return nil, err
		}
		res := &server.MemAccResolver{}
		for pub, j := range cfg.Auth.Accounts {
			if err := res.Store(pub, j); err != nil {
				return nil, fmt.Errorf("nats account %s: %w", pub, err)
			}
		}
		opts.TrustedOperators = []*jwt.OperatorClaims{cfg.Auth.Operator}
		opts.SystemAccount = cfg.Auth.SystemAccount
		opts.AccountResolver = res
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if cfg.ClusterName != "" {
		ch, cp, err := net.SplitHostPort(cfg.ClusterAddr)
		if err != nil {
			return nil, fmt.Errorf("cluster address %q: %w", cfg.ClusterAddr, err)
		}
		opts.Cluster.Name = cfg.ClusterName
		opts.Cluster.Host = ch
		opts.Cluster.Port, _ = strconv.Atoi(cp)
		opts.Routes = server.RoutesFromStr(joinRoutes(cfg.Routes))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server on %s not ready in 30s", cfg.Addr)
	}
	return s, nil
}

func joinRoutes(r []string) string {
	out := ""
	for i, x := range r {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// adoptAnonymousStore moves the streams a server without authentication
// kept (in the global account, "$G") to the account that now owns them,
// so turning authentication on loses no function, record or queued
// invocation. It does nothing once the account has a store of its own.
func adoptAnonymousStore(storeDir, account string) error {
	if storeDir == "" || account == "" {
		return nil
	}
	js := filepath.Join(storeDir, server.JetStreamStoreDir)
	old, cur := filepath.Join(js, server.DEFAULT_GLOBAL_ACCOUNT), filepath.Join(js, account)
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	if _, err := os.Stat(cur); err == nil {
		return nil
	}
	if err := os.Rename(old, cur); err != nil {
		return fmt.Errorf("move the streams of the unauthenticated server to account %s: %w", account, err)
	}
	return nil
}
