package kubefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// watcher is one open watch stream. Events go through a buffered channel; a watcher that
// falls too far behind is closed, and the client re-lists, as with a real API server.
type watcher struct {
	plural string
	ns     string
	sel    labels.Selector
	ch     chan watchEvent
}

type watchEvent struct {
	Type   string         `json:"type"`
	Object runtime.Object `json:"object"`
}

// notifyLocked sends a copy of obj to every watcher of its resource that selects it.
func (s *Server) notifyLocked(res resource, typ string, obj runtime.Object) {
	o, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	for w := range s.watchers {
		if w.plural != res.plural || (w.ns != "" && w.ns != o.GetNamespace()) || !w.sel.Matches(labels.Set(o.GetLabels())) {
			continue
		}
		select {
		case w.ch <- watchEvent{Type: typ, Object: obj.DeepCopyObject()}:
		default:
			close(w.ch)
			delete(s.watchers, w)
		}
	}
}

// serveWatch streams watch events. It sends the current objects as ADDED first when the
// client asks for a fresh start (no resourceVersion, "0", or sendInitialEvents=true), then a
// BOOKMARK marking the end of initial events if the client asked for that (the watch-list
// start informers may use). It keeps no history, so a watch from an older resourceVersion
// sees only later changes.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, res resource, ns string, sel labels.Selector) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeStatusError(w, apierrors.NewMethodNotSupported(res.groupResource(), "watch"))
		return
	}
	q := r.URL.Query()
	sendInitial := isTrue(q.Get("sendInitialEvents"))
	rv := q.Get("resourceVersion")
	timeout := 30 * time.Minute
	if v, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && v > 0 {
		timeout = time.Duration(v) * time.Second
	}

	wt := &watcher{plural: res.plural, ns: ns, sel: sel, ch: make(chan watchEvent, 256)}
	s.mu.Lock()
	var initial []runtime.Object
	if sendInitial || rv == "" || rv == "0" {
		initial = s.matchingLocked(res, ns, sel)
	}
	currentRV := fmt.Sprint(s.rv)
	s.watchers[wt] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, wt)
		s.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, obj := range initial {
		if enc.Encode(watchEvent{Type: "ADDED", Object: obj}) != nil {
			return
		}
	}
	if sendInitial {
		mark := res.newObj()
		mark.GetObjectKind().SetGroupVersionKind(res.gvk)
		o, _ := meta.Accessor(mark)
		o.SetResourceVersion(currentRV)
		o.SetAnnotations(map[string]string{"k8s.io/initial-events-end": "true"})
		if enc.Encode(watchEvent{Type: "BOOKMARK", Object: mark}) != nil {
			return
		}
	}
	flusher.Flush()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-wt.ch:
			if !ok {
				return
			}
			if enc.Encode(ev) != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-deadline.C:
			return
		case <-s.done:
			return
		}
	}
}
