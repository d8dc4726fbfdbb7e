package meshwebfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// repeatKeys adds to a rendered endpoint the repeated keys of db.nycmesh.net's real map
// data, derived from the entries themselves so that two clusters holding the same rows
// serve the same multiset:
//   - links: every twentieth link also exists as a planned link between the same two
//     nodes (same from+to, status Planned, no installDate), and every twentieth link,
//     offset by ten, is listed twice;
//   - sectors: every eighth sector's node also has an omni and a sector antenna, both
//     at azimuth 0 (same nodeId+azimuth).
//
// Copies under one key come in no particular order (MeshDB's queries have no ORDER BY,
// and a restored database returns rows in another physical order), so each added entry
// lands before or after the entry it was derived from at random.
func repeatKeys(kind string, body []byte) ([]byte, error) {
	var add func(i int, e json.RawMessage) ([]json.RawMessage, error)
	switch kind {
	case "links":
		add = func(i int, e json.RawMessage) ([]json.RawMessage, error) {
			switch i % 20 {
			case 0:
				planned, err := with(e, map[string]string{"status": `"Planned"`, "installDate": ""})
				return []json.RawMessage{planned}, err
			case 10:
				return []json.RawMessage{e}, nil
			}
			return nil, nil
		}
	case "sectors":
		add = func(i int, e json.RawMessage) ([]json.RawMessage, error) {
			if i%8 != 0 {
				return nil, nil
			}
			omni, err := with(e, map[string]string{"azimuth": "0", "width": "360"})
			if err != nil {
				return nil, err
			}
			sector, err := with(e, map[string]string{"azimuth": "0", "width": "90", "radius": "1.5"})
			return []json.RawMessage{omni, sector}, err
		}
	default:
		return body, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, fmt.Errorf("mapdata %s is not a JSON array: %w", kind, err)
	}
	out := make([]json.RawMessage, 0, len(entries)+len(entries)/4)
	for i, e := range entries {
		extra, err := add(i, e)
		if err != nil {
			return nil, fmt.Errorf("mapdata %s entry %d: %w", kind, i, err)
		}
		var after []json.RawMessage
		for _, x := range extra {
			if rand.IntN(2) == 0 {
				out = append(out, x)
			} else {
				after = append(after, x)
			}
		}
		out = append(out, e)
		out = append(out, after...)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range out {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// with returns a copy of the object e with fields set to raw JSON values ("" removes
// the field, as MeshDB leaves out null keys).
func with(e json.RawMessage, fields map[string]string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(e, &m); err != nil {
		return nil, err
	}
	for k, v := range fields {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = json.RawMessage(v)
	}
	return json.Marshal(m)
}
