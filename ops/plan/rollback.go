package plan

// Ran says how far a forward step got: Done when it succeeded, Maybe when it failed
// or was interrupted and so may have changed something.
type Ran int

const (
	NotRun Ran = iota
	Maybe
	Done
)

// Rollback builds the undo plan from what has run, newest first: a revert PR for a
// merged change, maintenance off where it was turned on, replicas back where they
// were scaled, optionally the destination restored from its backup, the dump's copy
// removed from the destination pod when no restore removed it, and the done
// announcement when the start was announced. Steps already undone by a later forward
// step (the plan's own "restore celery") are left out.
func Rollback(p Plan, ran map[string]Ran) []Step {
	var out []Step
	announced := false
	for i := len(p.Steps) - 1; i >= 0; i-- {
		s := p.Steps[i]
		r := ran[s.ID]
		if r == NotRun {
			continue
		}
		later := p.Steps[i+1:]
		switch s.Kind {
		case KindScale:
			if s.Scale.Replicas == nil || undoneLater(later, ran, func(l Step) bool {
				return l.Scale != nil && l.Scale.RestoreFrom == s.ID
			}) {
				continue
			}
			u := s
			u.Scale = &Scale{Workload: s.Scale.Workload, Name: s.Scale.Name, RestoreFrom: s.ID}
			u.Title, u.TitleFacts = "", titleOf(TitleUndoScale, u)
			out = append(out, undo(u, s))
		case KindMaintenance:
			if !s.Maintenance.On || undoneLater(later, ran, func(l Step) bool {
				return l.Maintenance != nil && !l.Maintenance.On && l.Cluster == s.Cluster
			}) {
				continue
			}
			u := s
			u.Maintenance = &Maintenance{On: false}
			u.Title, u.TitleFacts = "", titleOf(TitleUndoMaintenance, u)
			out = append(out, undo(u, s))
		case KindDump:
			// The dump step copies its dump into the destination pod's /tmp; the restore
			// step removes it at its end. When that step never finished, remove it here.
			rs := p.RestoreOf(s.ID)
			if rs == nil || ran[rs.ID] == Done {
				continue
			}
			u := s
			u.Role, u.Cluster = rs.Role, rs.Cluster
			u.Title, u.TitleFacts = "", titleOf(TitleUndoDumpCopy, u)
			out = append(out, undo(u, s))
		case KindRestore:
			if s.Restore.FromBackup != "" {
				continue
			}
			u := s
			r := *s.Restore
			r.From, r.FromBackup = "", s.ID
			u.Restore = &r
			u.Optional = true
			u.Title, u.TitleFacts = "", titleOf(TitleUndoRestore, u)
			out = append(out, undo(u, s))
		case KindPullRequest:
			if s.PullRequest.RevertOf != "" {
				continue
			}
			u := s
			pr := *s.PullRequest
			pr.RevertOf = s.ID
			u.PullRequest = &pr
			u.Title, u.TitleFacts = "", titleOf(TitleUndoPR, u)
			out = append(out, undo(u, s))
			if pr.Change == "dns" {
				w := Step{Kind: KindWaitDNS, ID: "undo-wait-dns", TitleFacts: &TitleFacts{Kind: TitleUndoWaitDNS},
					WaitDNS: &WaitDNS{Name: "", Want: pr.From}}
				// The wait's name and resolvers come from the forward wait step when there is one.
				for _, l := range later {
					if l.WaitDNS != nil {
						w.WaitDNS = &WaitDNS{Name: l.WaitDNS.Name, Want: pr.From, Resolvers: l.WaitDNS.Resolvers}
					}
				}
				if w.WaitDNS.Name != "" {
					out = append(out, w)
				}
			}
		case KindAnnounce:
			if s.Announce.Template == "start" && r == Done && !undoneLater(later, ran, func(l Step) bool {
				return l.Announce != nil && l.Announce.Template == "done"
			}) {
				announced = true
			}
		}
	}
	if announced {
		for _, s := range p.Steps {
			if s.Announce != nil && s.Announce.Template == "done" {
				u := s
				u.ID = "undo-announce-done"
				u.Title, u.TitleFacts = "", titleOf(TitleAnnounceRolledBack, u)
				out = append(out, u)
				break
			}
		}
	}
	return out
}

func undo(u, of Step) Step {
	u.ID = "undo-" + of.ID
	u.Undoes = of.ID
	u.AutoRun = false
	return u
}

func undoneLater(later []Step, ran map[string]Ran, match func(Step) bool) bool {
	for _, l := range later {
		if ran[l.ID] == Done && match(l) {
			return true
		}
	}
	return false
}
