package store

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// WriteActiveOnly writes run into the active object and stops there, as a bot killed
// between saving an ended run and archiving it leaves things.
func (k *Kube) WriteActiveOnly(run *engine.Run, audit []engine.AuditEntry) error {
	cm, err := runObject(activeName, "active", payload{Run: run, Audit: numberAudit(nil, audit)})
	if err != nil {
		return err
	}
	cur, err := k.cms.Get(context.Background(), activeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cm.ResourceVersion = cur.ResourceVersion
	_, err = k.cms.Update(context.Background(), cm, metav1.UpdateOptions{})
	return err
}

// MaxObject is the most compressed payload one ConfigMap may hold.
const MaxObject = maxObject

// PayloadSize is the compressed size of a run's object payload.
func PayloadSize(run *engine.Run, audit []engine.AuditEntry) (int, error) {
	b, err := encodePayload(payload{Run: run, Audit: audit})
	return len(b), err
}
