package pgserver

import (
	"context"
	"fmt"
	"strings"
)

// Seed fills the MeshDB schema for `installs` installs, set-based and deterministic:
// the same size gives the same rows (so two servers seeded alike fingerprint equal).
// Values come from md5 of the row number, not random(). About 20,000 installs is
// MeshDB's size today.
func (s *Server) Seed(ctx context.Context, db, user string, installs int) error {
	if installs <= 0 {
		return nil
	}
	if installs < 10 {
		return fmt.Errorf("seed at least 10 installs (the other tables are sized from it), not %d", installs)
	}
	sql := strings.ReplaceAll(seedSQL, ":N", fmt.Sprint(installs))
	if !identRe.MatchString(db) || !identRe.MatchString(user) {
		return fmt.Errorf("seed: %q and %q must be plain lower-case identifiers", db, user)
	}
	if _, err := s.sqlAs(ctx, db, user, sql); err != nil {
		return fmt.Errorf("seed %d installs: %w", installs, err)
	}
	return nil
}

// h(seed, i) is a deterministic number in [0, 1) from the row number.
const seedSQL = `
BEGIN;
CREATE FUNCTION pg_temp.h(seed text, i bigint) RETURNS double precision
  LANGUAGE sql IMMUTABLE AS $$ SELECT ('x' || substr(md5(seed || i::text), 1, 8))::bit(32)::bigint / 4294967296.0 $$;
CREATE FUNCTION pg_temp.u(seed text, i bigint) RETURNS uuid
  LANGUAGE sql IMMUTABLE AS $$ SELECT md5(seed || i::text)::uuid $$;

INSERT INTO meshapi_member (id, name, primary_email_address, additional_email_addresses, phone_number, additional_phone_numbers, slack_handle, notes)
SELECT pg_temp.u('member', i), 'Member ' || i, 'member' || i || '@example.org',
       CASE WHEN i % 7 = 0 THEN ARRAY['alt' || i || '@example.org', 'old' || i || '@example.net'] ELSE '{}' END,
       '+1 212 555 ' || lpad((i % 10000)::text, 4, '0'),
       CASE WHEN i % 11 = 0 THEN ARRAY['+1 646 555 ' || lpad((i % 10000)::text, 4, '0')] ELSE '{}' END,
       CASE WHEN i % 3 = 0 THEN '@member' || i END,
       CASE WHEN i % 5 = 0 THEN repeat('Met at the install; prefers email. ', 1 + (i % 4)) END
FROM generate_series(1, (:N * 9) / 10) AS i;

INSERT INTO meshapi_node (id, network_number, name, status, type, latitude, longitude, altitude, install_date, notes)
SELECT pg_temp.u('node', i), i + 100, CASE WHEN i % 4 = 0 THEN 'Node ' || i END,
       (ARRAY['Active', 'Active', 'Active', 'Planned', 'Inactive'])[1 + (i % 5)],
       (ARRAY['Standard', 'Hub', 'Supernode', 'POP', 'AP'])[1 + (i % 5)],
       40.55 + pg_temp.h('nlat', i) * 0.35, -74.05 + pg_temp.h('nlon', i) * 0.35, round((pg_temp.h('nalt', i) * 120)::numeric, 1),
       date '2015-01-01' + (i % 3500), CASE WHEN i % 9 = 0 THEN 'rooftop, line of sight to SN' || (i % 10) END
FROM generate_series(1, (:N * 4) / 10) AS i;

INSERT INTO meshapi_building (id, bin, street_address, city, state, zip_code, address_truth_sources, latitude, longitude, altitude, notes, panoramas, primary_node_id)
SELECT pg_temp.u('building', i), 1000000 + i, (i % 900 + 1) || ' ' || (ARRAY['Grand St', 'Broadway', 'Atlantic Ave', 'Flatbush Ave', '5th Ave'])[1 + (i % 5)],
       (ARRAY['New York', 'Brooklyn', 'Queens', 'Bronx'])[1 + (i % 4)], 'NY', lpad((10001 + i % 400)::text, 5, '0'),
       ARRAY['NYCPlanningLabs', 'OSMNominatim'], 40.55 + pg_temp.h('blat', i) * 0.35, -74.05 + pg_temp.h('blon', i) * 0.35,
       round((pg_temp.h('balt', i) * 150)::numeric, 1), CASE WHEN i % 6 = 0 THEN 'Access through the back door' END,
       CASE WHEN i % 4 = 0 THEN ARRAY['https://node-db.netlify.app/panoramas/' || i || '.jpg'] ELSE '{}' END,
       CASE WHEN i <= (:N * 4) / 10 THEN pg_temp.u('node', i) END
FROM generate_series(1, (:N * 7) / 10) AS i;

INSERT INTO meshapi_building_nodes (building_id, node_id)
SELECT pg_temp.u('building', i), pg_temp.u('node', i) FROM generate_series(1, (:N * 4) / 10) AS i ORDER BY i;

INSERT INTO meshapi_install (id, install_number, status, ticket_number, request_date, install_date, abandon_date, roof_access, referral, notes, diy, unit, member_id, building_id, node_id)
SELECT pg_temp.u('install', i), i,
       (ARRAY['Active', 'Active', 'Request Received', 'Pending', 'Inactive', 'Closed', 'NN Reassigned'])[1 + (i % 7)],
       CASE WHEN i % 2 = 0 THEN 'T' || (50000 + i) END,
       timestamptz '2014-06-01 00:00:00+00' + (i * interval '3 hours 17 minutes'),
       CASE WHEN i % 7 < 2 THEN date '2014-07-01' + (i % 3800) END,
       CASE WHEN i % 7 = 5 THEN date '2020-01-01' + (i % 1500) END,
       i % 3 <> 0, CASE WHEN i % 8 = 0 THEN 'a friend' END,
       CASE WHEN i % 4 = 0 THEN 'Spoke with the super; ' || md5(i::text) END,
       CASE WHEN i % 10 = 0 THEN true END, CASE WHEN i % 3 = 0 THEN (i % 40 + 1) || (ARRAY['A', 'B', 'C', 'D'])[1 + i % 4] END,
       pg_temp.u('member', 1 + (i % ((:N * 9) / 10))), pg_temp.u('building', 1 + (i % ((:N * 7) / 10))),
       CASE WHEN i % 7 < 2 AND (:N * 4) / 10 > 0 THEN pg_temp.u('node', 1 + (i % ((:N * 4) / 10))) END
FROM generate_series(1, :N) AS i;
SELECT setval(pg_get_serial_sequence('meshapi_install', 'install_number'), :N);

INSERT INTO meshapi_device (id, node_id, name, status, install_date, notes, uisp_id, uisp_data)
SELECT pg_temp.u('device', i), pg_temp.u('node', 1 + (i % ((:N * 4) / 10))), 'nycmesh-' || (100 + i % ((:N * 4) / 10)) || '-' || (ARRAY['omni', 'lbe', 'sector', 'ap'])[1 + i % 4],
       (ARRAY['Active', 'Active', 'Inactive', 'Potential'])[1 + i % 4], date '2016-01-01' + (i % 3000), NULL, md5('uisp' || i),
       jsonb_build_object('model', (ARRAY['LBE-5AC-Gen2', 'LAP-120', 'NBE-5AC-Gen2', 'OmniTik'])[1 + i % 4], 'firmware', '8.7.' || (i % 12), 'ssid', 'nycmesh-' || i,
         'mac', regexp_replace(substr(md5('mac' || i), 1, 12), '(..)(?!$)', '\1:', 'g'), 'ip', '10.69.' || (i / 250 % 250) || '.' || (i % 250),
         'uptime', (pg_temp.h('up', i) * 9000000)::int, 'lastSeen', timestamptz '2024-05-01 00:00:00+00' + pg_temp.h('seen', i) * interval '30 days',
         'frequency', (ARRAY[5180, 5500, 5745, 24100, 60480])[1 + i % 5], 'signal', -40 - (pg_temp.h('sig', i) * 40)::int,
         'site', jsonb_build_object('id', md5('site' || i)::uuid, 'name', 'nycmesh-' || (100 + i % 5000)))
FROM generate_series(1, (:N * 6) / 10) AS i;

INSERT INTO meshapi_sector (device_ptr_id, radius, azimuth, width)
SELECT pg_temp.u('device', i), round((0.5 + pg_temp.h('rad', i) * 2)::numeric, 2), (i * 37) % 360, (ARRAY[60, 90, 120, 360])[1 + i % 4]
FROM generate_series(1, (:N * 6) / 10) AS i WHERE i % 10 = 0;

INSERT INTO meshapi_accesspoint (device_ptr_id, latitude, longitude, altitude)
SELECT pg_temp.u('device', i), 40.55 + pg_temp.h('alat', i) * 0.35, -74.05 + pg_temp.h('alon', i) * 0.35, round((pg_temp.h('aalt', i) * 60)::numeric, 1)
FROM generate_series(1, (:N * 6) / 10) AS i WHERE i % 10 = 5;

INSERT INTO meshapi_link (id, from_device_id, to_device_id, status, type, install_date, description, uisp_id)
SELECT pg_temp.u('link', i), pg_temp.u('device', 1 + (i % ((:N * 6) / 10))), pg_temp.u('device', 1 + ((i * 7 + 3) % ((:N * 6) / 10))),
       (ARRAY['Active', 'Active', 'Planned', 'Inactive'])[1 + i % 4], (ARRAY['5 GHz', '24 GHz', '60 GHz', 'Fiber', 'VPN'])[1 + i % 5],
       date '2016-06-01' + (i % 3000), CASE WHEN i % 5 = 0 THEN 'link ' || i END, md5('ulink' || i)
FROM generate_series(1, (:N * 3) / 10) AS i;

INSERT INTO meshapi_los (id, from_building_id, to_building_id, source, analysis_date, notes)
SELECT pg_temp.u('los', i), pg_temp.u('building', 1 + (i % ((:N * 7) / 10))), pg_temp.u('building', 1 + ((i * 13 + 1) % ((:N * 7) / 10))),
       (ARRAY['Human Annotated', 'Existing Link'])[1 + i % 2], date '2023-01-01' + (i % 600), NULL
FROM generate_series(1, :N / 10) AS i;

-- Three versions of each install (requested, pending, active), as the history of
-- MeshDB's busiest model; two of each member; one or two of each building.
INSERT INTO meshapi_historicalinstall (id, install_number, status, ticket_number, request_date, install_date, abandon_date, roof_access,
       referral, notes, diy, unit, member_id, building_id, node_id, history_date, history_change_reason, history_type, history_user_id)
SELECT pg_temp.u('install', j), j, (ARRAY['Request Received', 'Pending', 'Active'])[1 + v],
       CASE WHEN v > 0 AND j % 2 = 0 THEN 'T' || (50000 + j) END,
       timestamptz '2014-06-01 00:00:00+00' + (j * interval '3 hours 17 minutes'),
       CASE WHEN v = 2 THEN date '2014-07-01' + (j % 3800) END, NULL, j % 3 <> 0, CASE WHEN j % 8 = 0 THEN 'a friend' END,
       CASE WHEN v = 2 THEN 'installed; ' || md5(i::text) WHEN j % 4 = 0 THEN 'Spoke with the super; ' || md5(j::text) END,
       CASE WHEN j % 10 = 0 THEN true END, CASE WHEN j % 3 = 0 THEN (j % 40 + 1) || (ARRAY['A', 'B', 'C', 'D'])[1 + j % 4] END,
       pg_temp.u('member', 1 + (j % ((:N * 9) / 10))), pg_temp.u('building', 1 + (j % ((:N * 7) / 10))),
       CASE WHEN v = 2 THEN pg_temp.u('node', 1 + (j % ((:N * 4) / 10))) END,
       timestamptz '2014-06-01 00:00:00+00' + (i * interval '1 hour 5 minutes'), CASE WHEN v = 0 THEN 'Created from join form' END,
       CASE WHEN v = 0 THEN '+' ELSE '~' END, CASE WHEN v > 0 THEN 1 + i % 12 END
FROM generate_series(0, :N * 3 - 1) AS i, LATERAL (SELECT i / 3 + 1 AS j, i % 3 AS v) x;

INSERT INTO meshapi_historicalmember (id, name, primary_email_address, additional_email_addresses, phone_number, additional_phone_numbers,
       slack_handle, notes, history_date, history_change_reason, history_type, history_user_id)
SELECT pg_temp.u('member', j), 'Member ' || j, 'member' || j || '@example.org',
       CASE WHEN v = 1 AND j % 7 = 0 THEN ARRAY['alt' || j || '@example.org', 'old' || j || '@example.net'] ELSE '{}' END,
       CASE WHEN v = 1 THEN '+1 212 555 ' || lpad((j % 10000)::text, 4, '0') END, '{}',
       CASE WHEN v = 1 AND j % 3 = 0 THEN '@member' || j END,
       CASE WHEN v = 1 AND j % 5 = 0 THEN repeat('Met at the install; prefers email. ', 1 + (j % 4)) END,
       timestamptz '2014-06-01 00:00:00+00' + (i * interval '2 hours 11 minutes'), CASE WHEN v = 0 THEN 'Created from join form' END,
       CASE WHEN v = 0 THEN '+' ELSE '~' END, CASE WHEN v = 1 THEN 1 + i % 12 END
FROM generate_series(0, ((:N * 9) / 10) * 2 - 1) AS i, LATERAL (SELECT i / 2 + 1 AS j, i % 2 AS v) x;

INSERT INTO meshapi_historicalbuilding (id, bin, street_address, city, state, zip_code, address_truth_sources, latitude, longitude, altitude,
       notes, panoramas, primary_node_id, history_date, history_change_reason, history_type, history_user_id)
SELECT pg_temp.u('building', j), 1000000 + j, (j % 900 + 1) || ' ' || (ARRAY['Grand St', 'Broadway', 'Atlantic Ave', 'Flatbush Ave', '5th Ave'])[1 + (j % 5)],
       (ARRAY['New York', 'Brooklyn', 'Queens', 'Bronx'])[1 + (j % 4)], 'NY', lpad((10001 + j % 400)::text, 5, '0'),
       ARRAY['NYCPlanningLabs'] || CASE WHEN v = 1 THEN ARRAY['OSMNominatim'] ELSE '{}' END,
       40.55 + pg_temp.h('blat', j) * 0.35, -74.05 + pg_temp.h('blon', j) * 0.35, round((pg_temp.h('balt', j) * 150)::numeric, 1),
       CASE WHEN v = 1 AND j % 6 = 0 THEN 'Access through the back door' END,
       CASE WHEN v = 1 AND j % 4 = 0 THEN ARRAY['https://node-db.netlify.app/panoramas/' || j || '.jpg'] ELSE '{}' END,
       CASE WHEN v = 1 AND j <= (:N * 4) / 10 THEN pg_temp.u('node', j) END,
       timestamptz '2014-06-01 00:00:00+00' + (i * interval '2 hours 47 minutes'), CASE WHEN v = 0 THEN 'Created from join form' END,
       CASE WHEN v = 0 THEN '+' ELSE '~' END, CASE WHEN v = 1 THEN 1 + i % 12 END
FROM generate_series(0, ((:N * 7) / 10) * 2 - 1) AS i, LATERAL (SELECT i / 2 + 1 AS j, i % 2 AS v) x
WHERE i % 2 = 0 OR (i / 2) % 3 = 0;

INSERT INTO flags_flagstate (name, condition, value, required) VALUES ('MAINTENANCE_MODE', 'boolean', 'False', false);
COMMIT;
ANALYZE;
`
