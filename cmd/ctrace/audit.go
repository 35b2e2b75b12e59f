package main

import (
	"context"

	"github.com/rs/zerolog/log"

	"github.com/ctrace-dev/ctrace/internal/audit"
	"github.com/ctrace-dev/ctrace/internal/pipeline"
)

// auditStage reads LSM denials from the kernel's audit records, turning
// auditing on for the run under --audit, and returns the stage that joins
// them to the failures they explain. Without audit records the stage
// passes events straight on.
func (f *runFlags) auditStage(ctx context.Context) *pipeline.AuditJoin {
	opts := pipeline.AuditOptions{
		Wait: f.reasonWait,
		ReadError: func(err error) {
			log.Warn().Msgf("reading audit records: %v", err)
		},
	}
	if f.audit {
		restore, err := audit.EnableForRun(audit.StateDir)
		if err != nil {
			log.Warn().Msgf("--audit: %v", err)
		}
		if restore != nil {
			opts.Restore = func() {
				if err := restore(); err != nil {
					log.Warn().Msgf("--audit: turning auditing off again: %v", err)
				}
			}
		}
	}
	rd, err := audit.OpenReader()
	if av := audit.Probe(); err != nil || !av.Usable() {
		log.Info().Str("reason", "lsm_audit").Msgf("LSM denials from audit: %s", av.String())
		opts.Wait = 0
	}
	opts.Reader = rd
	return pipeline.NewAuditJoin(ctx, opts)
}

// restoreAuditLeftover turns kernel auditing off again when an earlier
// ctrace run --audit turned it on and was killed before it could restore
// it (SIGKILL, the OOM killer, a crash): run and check call it first. See
// audit.EnableForRun.
func restoreAuditLeftover() {
	l, err := audit.RestoreLeftover(audit.StateDir)
	if err != nil {
		log.Warn().Msgf("auditing left on by an earlier ctrace run --audit? %v", err)
		return
	}
	if l != nil {
		log.Warn().Int("pid", l.PID).Msgf("ctrace run --audit (pid %d) ended without turning kernel auditing off again: turned it off", l.PID)
	}
}
