package pgserver

import (
	"context"
	"fmt"
	"strings"
)

// MapdataJSON renders the public mapdata API from the database, as MeshDB's
// /api/v1/mapdata/{nodes,links,sectors}/ do: one JSON array, absent keys for nulls.
// Access points (id >= 1,000,000) come in no particular order, as in MeshDB.
func (s *Server) MapdataJSON(ctx context.Context, db, kind string) ([]byte, error) {
	q, ok := mapdataSQL[kind]
	if !ok {
		return nil, fmt.Errorf("no mapdata kind %q (nodes, links, sectors)", kind)
	}
	// Dates become epoch ms through timestamptz: pin the zone so every machine agrees.
	out, err := s.sqlAs(ctx, db, "postgres", "SET TimeZone = 'UTC';\n"+q)
	if err != nil {
		return nil, err
	}
	out = strings.TrimSpace(out)
	if out == "" {
		return []byte("[]"), nil
	}
	return []byte(out), nil
}

var mapdataSQL = map[string]string{
	"nodes": `
SELECT coalesce(json_agg(x), '[]') FROM (
  SELECT * FROM (
    SELECT json_strip_nulls(json_build_object(
      'id', i.install_number, 'name', n.name, 'status', i.status,
      'coordinates', json_build_array(b.longitude, b.latitude, b.altitude),
      'requestDate', (extract(epoch FROM i.request_date) * 1000)::bigint,
      'installDate', (extract(epoch FROM i.install_date::timestamptz) * 1000)::bigint,
      'roofAccess', i.roof_access, 'notes', i.notes, 'panoramas', b.panoramas)) AS x
    FROM meshapi_install i JOIN meshapi_building b ON b.id = i.building_id LEFT JOIN meshapi_node n ON n.id = i.node_id
    ORDER BY i.install_number) installs
  UNION ALL
  SELECT json_strip_nulls(json_build_object(
      'id', 1000000 + row_number() OVER (ORDER BY a.device_ptr_id), 'name', d.name, 'status', d.status,
      'coordinates', json_build_array(a.longitude, a.latitude, a.altitude),
      'requestDate', (extract(epoch FROM d.install_date::timestamptz) * 1000)::bigint,
      'installDate', (extract(epoch FROM d.install_date::timestamptz) * 1000)::bigint,
      'roofAccess', true, 'notes', d.notes, 'panoramas', json_build_array()))
  FROM meshapi_accesspoint a JOIN meshapi_device d ON d.id = a.device_ptr_id
) t`,
	"links": `
SELECT coalesce(json_agg(json_strip_nulls(json_build_object(
  'from', fn.network_number, 'to', tn.network_number, 'status', l.status,
  'installDate', (extract(epoch FROM l.install_date::timestamptz) * 1000)::bigint)) ORDER BY l.id), '[]')
FROM meshapi_link l
JOIN meshapi_device fd ON fd.id = l.from_device_id JOIN meshapi_node fn ON fn.id = fd.node_id
JOIN meshapi_device td ON td.id = l.to_device_id JOIN meshapi_node tn ON tn.id = td.node_id`,
	"sectors": `
SELECT coalesce(json_agg(json_strip_nulls(json_build_object(
  'nodeId', n.network_number, 'radius', s.radius, 'azimuth', s.azimuth, 'width', s.width, 'status', d.status,
  'installDate', (extract(epoch FROM d.install_date::timestamptz) * 1000)::bigint)) ORDER BY s.device_ptr_id), '[]')
FROM meshapi_sector s JOIN meshapi_device d ON d.id = s.device_ptr_id JOIN meshapi_node n ON n.id = d.node_id`,
}
