// Command minaccept is the baseline of BenchmarkPaths' accept phase: the
// least an HTTP handler must do to accept an async invocation durably. It
// serves POST /v1/functions/{name}:invoke?async=true with gin, checks the
// HS256 bearer token (the gateway's secret, from MINACCEPT_JWT_SECRET),
// publishes the body to a work-queue stream of its own (configured like
// EVENTFLOW_INVOCATIONS, Nats-Msg-Id set) and waits for the ack, and
// answers 202 with the id (body and X-Invocation-Id). With -kv it also
// writes a small JSON record to a KV bucket of its own, concurrently with
// the publish, and waits for both: the gateway's "message + record".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/eventflow/eventflow/pkg/events"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "minaccept:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "HTTP listen address")
	natsURL := flag.String("nats", nats.DefaultURL, "NATS server URL")
	creds := flag.String("creds", "", "NATS credentials file")
	stream := flag.String("stream", "BENCH_MIN", "work-queue stream (subjects <subject>.>)")
	subject := flag.String("subject", "bench.min", "subject prefix: <subject>.<tenant>.<function>")
	withKV := flag.Bool("kv", false, "also write a record to a KV bucket (-bucket), both awaited")
	bucket := flag.String("bucket", "BENCH_MIN_KV", "KV bucket of -kv")
	flag.Parse()
	secret := []byte(os.Getenv("MINACCEPT_JWT_SECRET"))
	if len(secret) < 32 {
		return errors.New("MINACCEPT_JWT_SECRET must hold at least 32 bytes")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := []nats.Option{nats.Name("minaccept"), nats.Timeout(5 * time.Second)}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*natsURL, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	o := events.DefaultOptions()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: *stream, Subjects: []string{*subject + ".>"},
		Retention: jetstream.WorkQueuePolicy, Storage: o.Storage, Replicas: o.Replicas, Duplicates: o.DedupeWindow,
		MaxMsgsPerSubject: int64(o.MaxQueuedPerFunction), Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
	}); err != nil {
		return fmt.Errorf("stream %s: %w", *stream, err)
	}
	var kv jetstream.KeyValue
	if *withKV {
		if kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: *bucket, History: 1, TTL: o.InvocationsTTL, Storage: o.Storage, Replicas: o.Replicas,
		}); err != nil {
			return fmt.Errorf("bucket %s: %w", *bucket, err)
		}
	}

	keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	fail := func(c *gin.Context, code int, msg string) {
		c.AbortWithStatusJSON(code, gin.H{"error": gin.H{"message": msg}})
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/functions/:name", func(c *gin.Context) {
		fn, ok := strings.CutSuffix(c.Param("name"), ":invoke")
		if !ok || fn == "" || c.Query("async") != "true" {
			fail(c, http.StatusNotFound, "only POST /v1/functions/{name}:invoke?async=true")
			return
		}
		tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok {
			fail(c, http.StatusUnauthorized, "no bearer token")
			return
		}
		var claims struct {
			Tenant string `json:"tenant"`
			jwt.RegisteredClaims
		}
		if _, err := parser.ParseWithClaims(tok, &claims, keyFunc); err != nil || claims.Tenant == "" {
			fail(c, http.StatusUnauthorized, "invalid token")
			return
		}
		body, err := io.ReadAll(io.LimitReader(c.Request.Body, 1<<20))
		if err != nil {
			fail(c, http.StatusBadRequest, err.Error())
			return
		}
		id := nuid.Next()
		msg := &nats.Msg{Subject: *subject + "." + claims.Tenant + "." + fn, Data: body, Header: nats.Header{}}
		msg.Header.Set(nats.MsgIdHdr, id)
		rctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
		defer cancel()
		var kvErr chan error
		if kv != nil {
			kvErr = make(chan error, 1)
			rec := fmt.Appendf(nil, `{"id":%q,"tenant":%q,"function":%q,"status":"queued","createdAt":%q}`,
				id, claims.Tenant, fn, time.Now().UTC().Format(time.RFC3339Nano))
			go func() {
				_, err := kv.Put(rctx, claims.Tenant+"."+fn+"."+id, rec)
				kvErr <- err
			}()
		}
		_, err = js.PublishMsg(rctx, msg)
		if kvErr != nil {
			err = errors.Join(err, <-kvErr)
		}
		if err != nil {
			fail(c, http.StatusServiceUnavailable, err.Error())
			return
		}
		c.Header("X-Invocation-Id", id)
		c.JSON(http.StatusAccepted, gin.H{"id": id, "status": "queued"})
	})

	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(os.Stderr, "minaccept: listening on %s (kv %v)\n", *addr, *withKV)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
