package realkube

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// kwokStages returns the kwok stage files for the node and its pods, taken from kwok's
// module (copied into the binaries' cache by scripts/kube-binaries.sh): the node becomes
// Ready, pods become Running and Ready, and a deleted pod goes away at once.
//
// kwok's pod-ready stage reports each container's image but no imageID, which a kubelet
// always reports (the bot compares image digests across clusters), so the copy written to
// dir adds imageID: the image itself, which MeshDB's workloads pin by digest.
func kwokStages(stageDir, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	nodeInit := filepath.Join(stageDir, "node", "fast", "node-initialize.yaml")
	podDelete := filepath.Join(stageDir, "pod", "fast", "pod-delete.yaml")
	raw, err := os.ReadFile(filepath.Join(stageDir, "pod", "fast", "pod-ready.yaml"))
	if err != nil {
		return nil, fmt.Errorf("realkube: kwok stages: %w", err)
	}
	const anchor = "containerStatuses:\n      {{ range .spec.containers }}\n      - image: {{ .image | Quote }}\n"
	if strings.Count(string(raw), anchor) != 1 {
		return nil, fmt.Errorf("realkube: kwok's pod-ready stage no longer lists containerStatuses as expected; cannot add imageID")
	}
	ready := strings.Replace(string(raw), anchor, anchor+"        imageID: {{ .image | Quote }}\n", 1)
	podReady := filepath.Join(dir, "pod-ready.yaml")
	if err := os.WriteFile(podReady, []byte(ready), 0o600); err != nil {
		return nil, err
	}
	for _, f := range []string{nodeInit, podDelete} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("realkube: kwok stages: %w", err)
		}
	}
	return []string{nodeInit, podReady, podDelete}, nil
}
