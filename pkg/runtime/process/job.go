package process

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// invokeJob runs one process for one invocation: payload on stdin, stdout
// as output. A function that fails is a result, not an error; the error is
// for ctx cancellation, a closed runtime, and secrets that cannot be read
// (a missing one wraps runtime.ErrSecretNotFound) or written: they are the
// platform's to report, not the function's. The secrets are read for each
// run, so a rotated one is seen by the next run.
func (r *Runtime) invokeJob(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	start := time.Now()
	var res runtime.InvokeResult
	fail := func(msg string) (runtime.InvokeResult, error) {
		res.Error = msg
		res.Duration = time.Since(start)
		return res, nil
	}
	if len(spec.Command) == 0 {
		return fail(msgNoCommand)
	}
	path, err := r.resolveCached(spec.Command[0])
	if err != nil {
		return fail(err.Error())
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if !r.track() {
		return res, ErrClosed
	}
	defer r.wg.Done()
	secrets, err := r.readSecrets(ctx, tenant, spec)
	if err != nil {
		return res, err
	}

	id := req.ID
	if id == "" {
		id = "run-" + strconv.FormatUint(r.runSeq.Add(1), 10)
	}
	name := spec.Name + "-" + id
	// A working directory of its own, emptied after the run.
	dir, err := r.jobDir()
	if err != nil {
		return fail("cannot start " + spec.Command[0] + ": " + err.Error())
	}
	defer r.releaseJobDir(dir)
	env := buildEnv(spec, tenant, name, dir, "EVENTFLOW_INVOCATION_ID", id)
	if len(secrets) > 0 {
		// Beside the working directory, removed when the run ends (after
		// its processes are gone: the defers run after finish).
		sdir, err := r.secretsDir(tenant+"."+spec.Name+"-", secrets)
		if err != nil {
			return res, fmt.Errorf("function %s/%s: %w", tenant, spec.Name, err)
		}
		defer r.removeDir(sdir)
		env = append(env, runtime.EnvSecretsDir+"="+sdir)
	}
	out := &cappedBuffer{limit: r.cfg.OutputLimit}
	p, err := r.startProc(procSpec{
		path:   path,
		args:   spec.Command,
		env:    env,
		dir:    dir,
		stdin:  req.Payload,
		meta:   logMeta{tenant: tenant, function: spec.Name, instance: name},
		output: out,
	})
	if err != nil {
		return fail("cannot start " + spec.Command[0] + ": " + err.Error())
	}
	r.log.Debug("job started", "tenant", tenant, "function", spec.Name, "instance", name, "pid", p.pid)

	timeout := req.Timeout
	if timeout <= 0 {
		timeout = spec.Timeout()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var timedOut bool
	var ctxErr error
	select {
	case <-p.exited:
	case <-timer.C:
		timedOut = true
		p.kill()
	case <-ctx.Done():
		ctxErr = ctx.Err()
		p.kill()
	case <-r.closing:
		ctxErr = ErrClosed
		p.kill()
	}
	p.finish()
	res.Duration = time.Since(start)
	res.Output = out.buf
	code, how := describeExit(p.waitErr)
	r.log.Debug("job ended", "tenant", tenant, "function", spec.Name, "instance", name, "pid", p.pid, "exit", how, "duration", res.Duration)

	switch {
	case ctxErr != nil:
		res.Error = ctxErr.Error()
		return res, ctxErr
	case timedOut:
		res.Error, res.TimedOut = "timed out after "+timeout.String(), true
	case code >= 0:
		res.ExitCode = &code
		if code == 0 {
			res.Succeeded = true
		} else {
			res.Error = "exit code " + strconv.Itoa(code)
			if p.lastStderr != "" {
				res.Error += ": " + p.lastStderr
			}
		}
	default:
		res.Error = how
		if p.lastStderr != "" {
			res.Error += ": " + p.lastStderr
		}
	}
	return res, nil
}
