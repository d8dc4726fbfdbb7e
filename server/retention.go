package server

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// expireEvery is how often a replica looks for runs whose files outlived
// state.retention.
const expireEvery = time.Hour

// expireLoop removes, now and every hour until ctx ends, the files of runs that ended
// more than state.retention ago, and reports what the spool holds in /metrics.
func (s *Server) expireLoop(ctx context.Context) {
	wait.UntilWithContext(ctx, s.expire, expireEvery)
}

func (s *Server) expire(ctx context.Context) {
	log := s.opts.Logger
	runs, err := s.store.List(ctx, 0)
	if err != nil {
		log.Error("spool retention: list the runs", "err", err)
	} else {
		removed, problems := s.clusterSteps.ExpireRuns(ctx, runs, s.opts.Clock())
		for _, r := range removed {
			log.Info("spool retention: removed", "what", r)
		}
		for _, p := range problems {
			log.Warn("spool retention: not removed yet, will try again", "problem", p)
		}
	}
	usage, err := steps.SpoolUsage(s.cfg.State.Dir)
	if err != nil {
		log.Error("spool retention: read the spool", "err", err)
		return
	}
	var total int64
	for _, u := range usage {
		total += u.Bytes
	}
	s.Metrics.SpoolBytes.Set(float64(total))
	s.Metrics.SpoolRuns.Set(float64(len(usage)))
}
