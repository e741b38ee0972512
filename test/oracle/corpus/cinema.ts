/**
 * Requests for the cinema fixture (test/fixtures/cinema): PostgREST's API surface, sent to the oracle
 * and to pgapp. Reads first (every filter operator, ordering, paging, every embed kind by PostgREST's
 * own spellings, counts, content types, profiles, errors), then writes, each read back.
 */
import type { OracleRequest } from '../compare.ts';

const legacy = { 'Accept-Profile': 'legacy' };
const legacyWrite = { 'Content-Profile': 'legacy' };
const rep = { Prefer: 'return=representation' };

const reads: OracleRequest[] = [
  // The OpenAPI document of each profile: the same paths, parameters, types and required columns.
  ...[{}, legacy, { 'Accept-Profile': 'report' }].map((headers) => ({
    path: '/',
    headers,
    documentedParts: [
      'host',
      'definitions.*.properties.*.default',
      // Read from rds as they are: no keys under them that PostgREST finds on custom.
      'definitions.rental_count.properties.*.description',
      'definitions.film_promo.properties.*.description',
    ],
    documented:
      "the OpenAPI document's host is where it is served, it shows no default rds assigns (a sequence, the clock), and no key notes on a view read from rds as it is (README: answers that differ)",
  })),
  // The root and a plain read.
  { path: '/language?order=language_id' },
  {
    path: '/film?select=film_id,title,rating,rental_rate,special_features,tags,showing&order=film_id&limit=5',
  },
  { method: 'HEAD', path: '/film?order=film_id' },
  // Every filter operator.
  { path: '/film?select=film_id&rental_rate=eq.0.99&order=film_id' },
  { path: '/film?select=film_id&rating=neq.G&order=film_id' },
  { path: '/film?select=film_id&length=gt.150&order=film_id' },
  { path: '/film?select=film_id&length=gte.150&order=film_id' },
  { path: '/film?select=film_id&length=lt.60&order=film_id' },
  { path: '/film?select=film_id&length=lte.60&order=film_id' },
  { path: '/film?select=film_id,title&title=like.*DINOSAUR*&order=film_id' },
  { path: '/film?select=film_id,title&title=ilike.*dinosaur*&order=film_id' },
  { path: '/film?select=film_id,title&title=match.^B.*R&order=film_id' },
  { path: '/film?select=film_id,title&title=imatch.^b.*r&order=film_id' },
  { path: '/film?select=film_id&film_id=in.(1,3,5,99)&order=film_id' },
  { path: '/film?select=film_id&release_year=is.null&order=film_id' },
  { path: '/film?select=film_id&release_year=not.is.null&order=film_id&limit=3' },
  { path: '/customer?select=customer_id&active=is.true&order=customer_id&limit=5' },
  { path: '/customer?select=customer_id&active=is.false&order=customer_id' },
  { path: '/customer?select=customer_id&active=is.unknown&order=customer_id' },
  { path: '/customer?select=customer_id&active=isdistinct.true&order=customer_id' },
  { path: '/film?select=film_id&fulltext=fts.robot&order=film_id' },
  { path: '/film?select=film_id&fulltext=fts(english).robots&order=film_id' },
  { path: '/film?select=film_id&fulltext=plfts.epic%20robot&order=film_id' },
  { path: '/film?select=film_id&fulltext=phfts(english).pastry%20chef&order=film_id' },
  { path: '/film?select=film_id&fulltext=wfts(english).%22pastry%20chef%22%20or%20moose&order=film_id' },
  { path: '/film?select=film_id&special_features=cs.{Trailers}&order=film_id' },
  { path: '/film?select=film_id&special_features=cd.{Trailers,Commentaries}&order=film_id' },
  { path: '/film?select=film_id&special_features=ov.{Commentaries,Deleted%20Scenes}&order=film_id' },
  { path: '/film?select=film_id&tags=cs.{"color":true}&order=film_id' },
  { path: '/film?select=film_id,showing&showing=ov.[2024-03-01,2024-03-05)&order=film_id' },
  { path: '/film?select=film_id&showing=sl.[2024-06-01,2024-06-02)&order=film_id' },
  { path: '/film?select=film_id&showing=sr.[2024-06-01,2024-06-02)&order=film_id' },
  { path: '/film?select=film_id&showing=nxl.[2024-06-01,2024-06-02)&order=film_id' },
  { path: '/film?select=film_id&showing=nxr.[2024-06-01,2024-06-02)&order=film_id' },
  { path: '/film?select=film_id&showing=adj.[2024-01-11,2024-01-21)&order=film_id' },
  { path: '/film?select=film_id&rating=not.in.(G,PG)&order=film_id' },
  { path: '/film?select=film_id&title=like(any).{*RUNNER*,*SQUAD*}&order=film_id' },
  { path: '/film?select=film_id&title=like(all).{B*,*RUNNER*}&order=film_id' },
  { path: '/film?select=film_id&or=(length.lt.60,rental_rate.eq.4.99)&order=film_id' },
  { path: '/film?select=film_id&and=(length.gt.60,or(rating.eq.R,rating.eq.G))&order=film_id' },
  { path: '/film?select=film_id&not.or=(length.gt.60,length.is.null)&order=film_id' },
  { path: '/film?select=film_id,tags->studio,tags->>color&tags->>studio=eq.North&order=film_id&limit=4' },
  { path: '/film?select=film_id,len:length::text&order=film_id&limit=3' },
  // Ordering: directions, nulls first/last, several columns, a related to-one column.
  { path: '/film?select=film_id,length&order=length.desc.nullslast,film_id&limit=8' },
  { path: '/film?select=film_id,length&order=length.asc.nullsfirst,film_id&limit=8' },
  {
    path: '/film?select=film_id,release_year,rating&order=release_year.desc,rating.asc,film_id.desc&limit=10',
  },
  { path: '/city?select=city,country(country)&order=country(country).desc,city' },
  // Paging: limit and offset, Range headers, counts.
  { path: '/rental?select=rental_id&order=rental_id&limit=5&offset=190' },
  { path: '/rental?select=rental_id&order=rental_id', headers: { Range: '10-14', 'Range-Unit': 'items' } },
  { path: '/rental?select=rental_id&order=rental_id&limit=3', headers: { Prefer: 'count=exact' } },
  {
    path: '/rental?select=rental_id&order=rental_id&limit=3',
    headers: { Prefer: 'count=planned' },
    documented:
      "an fdw table's planner estimate counts its own, always empty, part as a row (README: answers that differ)",
    documentedIn: ['fdw'],
  },
  {
    path: '/rental?select=rental_id&order=rental_id&limit=3',
    headers: { Prefer: 'count=estimated' },
    documented:
      "estimated is the planner's count where PostgREST takes it: an fdw table's counts its own, always empty, part as a row (README: answers that differ)",
    documentedIn: ['fdw'],
  },
  {
    path: '/rental?select=rental_id&return_date=is.null&order=rental_id',
    headers: { Prefer: 'count=exact' },
  },
  { path: '/rental?order=rental_id&offset=500', headers: { Prefer: 'count=exact' } },
  // Content types.
  {
    path: '/film?film_id=eq.3&select=film_id,title',
    headers: { Accept: 'application/vnd.pgrst.object+json' },
  },
  { path: '/film?film_id=lt.3&select=film_id', headers: { Accept: 'application/vnd.pgrst.object+json' } },
  { path: '/film?film_id=eq.999&select=film_id', headers: { Accept: 'application/vnd.pgrst.object+json' } },
  { path: '/language?order=language_id&select=language_id,name', headers: { Accept: 'text/csv' } },
  // Embeds: a column named like its table (city.city, country.country), to-one and to-many.
  { path: '/city?select=city,country(country)&order=city_id' },
  { path: '/address?select=address_id,city(city)&order=address_id&limit=5' },
  { path: '/country?select=country,city(city)&order=country_id&city.order=city' },
  { path: '/address?select=address,city(city,country(country))&address_id=lt.4&order=address_id' },
  // Two keys to one table: ambiguous by name, told apart by the constraint, by the column, or the column as the embed.
  { path: '/film?select=film_id,language(name)&order=film_id&limit=3' },
  {
    path: '/film?select=film_id,lang:language!film_language_id_fkey(name),orig:language!film_original_language_id_fkey(name)&order=film_id&limit=8',
  },
  {
    path: '/film?select=film_id,lang:language!language_id(name),orig:language!original_language_id(name)&order=film_id&limit=8',
  },
  { path: '/film?select=film_id,language_id(name),original_language_id(name)&order=film_id&limit=8' },
  { path: '/film?select=film_id,film_language_id_fkey(name)&order=film_id&limit=3' },
  {
    path: '/language?select=name,film!film_language_id_fkey(film_id)&order=language_id&film.order=film_id&film.limit=2',
  },
  { path: '/language?select=name,film!original_language_id(film_id)&order=language_id&film.order=film_id' },
  { path: '/language?select=name,film(film_id)&order=language_id' },
  // Keys both ways (store.manager_staff_id → staff, staff.store_id → store) and a self-reference.
  { path: '/store?select=store_id,manager:staff!store_manager_staff_id_fkey(first_name)&order=store_id' },
  {
    path: '/store?select=store_id,staff!staff_store_id_fkey(first_name)&order=store_id&staff.order=staff_id',
  },
  { path: '/store?select=store_id,staff(first_name)&order=store_id' },
  {
    path: '/staff?select=staff_id,store!staff_store_id_fkey(store_id),manages:store!store_manager_staff_id_fkey(store_id)&order=staff_id',
  },
  { path: '/staff?select=staff_id,first_name,reports_to(first_name)&order=staff_id' },
  {
    path: '/staff?select=staff_id,reports:staff!reports_to(first_name)&order=staff_id&reports.order=staff_id',
  },
  { path: '/staff?select=staff_id,staff(first_name)&order=staff_id' },
  // Many-to-many, through the junction or by its name; one-to-one.
  { path: '/film?select=film_id,actor(last_name)&film_id=lt.4&order=film_id&actor.order=actor_id' },
  { path: '/actor?select=actor_id,film(title)&actor_id=lt.3&order=actor_id&film.order=film_id' },
  {
    path: '/film?select=film_id,category!film_category(name)&film_id=lt.5&order=film_id&category.order=name',
  },
  { path: '/film?select=film_id,film_actor(actor_id)&film_id=eq.2&film_actor.order=actor_id' },
  { path: '/film?select=film_id,film_stats(rentals,score)&film_id=lt.5&order=film_id' },
  { path: '/film_stats?select=film_id,film(title)&order=film_id&limit=3' },
  // A composite key and a composite foreign key.
  { path: '/shift?select=shift_id,store_hours(opens,closes)&order=shift_id&limit=5' },
  {
    path: '/store_hours?select=store_id,weekday,shift(shift_id)&store_id=eq.2&order=weekday&shift.order=shift_id',
  },
  // Inner joins, null filtering on an embed, filters, order, limit and offset inside an embed.
  { path: '/film?select=film_id,orig:language!original_language_id!inner(name)&order=film_id' },
  { path: '/film?select=film_id,language!language_id!inner(name)&language.name=eq.Italian&order=film_id' },
  { path: '/film?select=film_id,lang:language!original_language_id(name)&lang=not.is.null&order=film_id' },
  {
    path: '/film?select=film_id,lang:language!original_language_id(name)&lang=is.null&order=film_id&limit=3',
  },
  { path: '/country?select=country,city(city)&city.city=like.*a*&order=country_id&city.order=city' },
  {
    path: '/country?select=country,city(city)&city.order=city.desc&city.limit=1&city.offset=1&order=country_id',
  },
  {
    path: '/country?select=country,city(city)&city.or=(city.eq.Roma,city.eq.Osaka)&order=country_id&city.order=city',
  },
  {
    path: '/customer?select=customer_id,rental(rental_id)&customer_id=lt.4&rental.order=rental_date.desc&rental.limit=2&order=customer_id',
  },
  // Spread, and depth.
  { path: '/film?select=film_id,...language!language_id(lang_name:name)&order=film_id&limit=4' },
  { path: '/city?select=city,...country(country)&order=city_id' },
  { path: '/rental?select=rental_id,customer(address(city(country(country))))&order=rental_id&limit=3' },
  {
    path: '/rental?select=rental_id,inventory(film(title,language(name)),store(address(city(city))))&order=rental_id&limit=2',
  },
  // Profiles: legacy's tables, and its own language table (public has one of that name).
  { path: '/language?order=code', headers: legacy },
  {
    path: '/payment?select=payment_id,amount,customer(first_name)&order=payment_id&limit=4',
    headers: legacy,
  },
  { path: '/review?select=review_id,language(name),film(title)&order=review_id&limit=5', headers: legacy },
  { path: '/payment?order=payment_id&limit=1', headers: { 'Accept-Profile': 'public' } },
  { path: '/film?order=film_id&limit=1', headers: { 'Accept-Profile': 'public' } },
  { path: '/film?limit=1', headers: { 'Accept-Profile': 'nowhere' } },
  // Errors: unknown column, relationship, table; ambiguity; a bad operator or value.
  { path: '/film?select=film_id,nope' },
  { path: '/film?select=film_id,nope(*)' },
  { path: '/nope' },
  { path: '/film?select=film_id,language(*)&order=film_id&limit=1&language_id=eq.1' },
  { path: '/store?select=store_id,staff(*)' },
  { path: '/film?film_id=xx.1' },
  { path: '/film?film_id=eq.abc' },
  { path: '/film?order=nope.desc' },
  { path: '/film?select=film_id,actor(last_name)&actor.nope=eq.1' },
  // Views (test/fixtures/cinema/db/rds/migrations/020_views.sql): joins and aggregates, a window, a
  // check option, security_barrier and security_invoker, a view over a view, a materialized view,
  // rds's own view of what is not mirrored, a schema of views only, JSON_TABLE; embeds both ways.
  { path: '/film_list?order=fid&limit=5' },
  { path: '/film_list?select=fid,title,category,actors&category=eq.Action&order=fid' },
  { path: '/film_list?select=fid,title,film_actor(actor_id)&fid=lt.4&order=fid' },
  { path: '/film_actor?select=actor_id,film_id,film_list(title,category)&actor_id=eq.1&order=film_id' },
  { method: 'HEAD', path: '/film_list?price=eq.0.99', headers: { Prefer: 'count=exact' } },
  { path: '/sales_by_store?order=store_id' },
  { path: '/sales_by_store?select=store_id,rentals,staff(staff_id,first_name)&order=store_id' },
  { path: '/staff?select=staff_id,sales_by_store(rentals,customers)&order=staff_id' },
  { path: '/film_rank?order=longest&limit=5' },
  { path: '/film_rank?select=film_id,running_length&longest=lte.3&order=film_id' },
  { path: '/store_one_customer?order=customer_id&limit=3' },
  { path: '/active_customer?order=customer_id&limit=5', headers: { Prefer: 'count=exact' } },
  { path: '/active_customer_name?name=like.MARY*&order=customer_id' },
  { path: '/payroll' },
  { path: '/staff_pay_invoker' },
  { path: '/staff_pay' },
  { path: '/long_film?select=film_id,title,language(name)&order=film_id' },
  { path: '/language?select=name,long_film(title)&order=language_id' },
  { path: '/rental_count?order=customer_id&limit=5' },
  {
    path: '/rental_count?select=customer_id,customer(first_name)&rentals=gt.1&order=customer_id',
    documented:
      'a materialized view is read from rds as it is: PostgREST finds no keys under it on custom, so no embeds from or to it (README: answers that differ)',
  },
  { path: '/film_promo?order=film_id' },
  { path: '/top_film', headers: { 'Accept-Profile': 'report' } },
  { path: '/top_film?select=title,film(rating)', headers: { 'Accept-Profile': 'report' } },
  { path: '/film_tag?color=is.true&order=film_id&limit=3' },
  // Partitioned tables (migrations/040_partitions.sql): the parent, embeds to and from it, each
  // partition (not in PostgREST's schema cache, on rds as here: served, but not in the OpenAPI document).
  { path: '/payment_p?order=payment_id&limit=5' },
  {
    path: '/payment_p?select=payment_id,amount,customer(first_name)&paid_at=gte.2024-02-01&order=payment_id',
  },
  {
    path: '/customer?select=customer_id,payment_p(payment_id,amount)&customer_id=lt.4&order=customer_id&payment_p.order=payment_id',
  },
  { method: 'HEAD', path: '/payment_p?amount=gt.3', headers: { Prefer: 'count=exact' } },
  {
    path: '/payment_p_2024_01?order=payment_id',
    documentedIn: ['fdw'],
    documented:
      'a partition of a table read through postgres_fdw (keyless, or "reads": "fdw") is not an endpoint of its own (README: answers that differ)',
  },
  { path: '/payment_p?select=payment_id,paid_at&paid_at=gte.2024-02-10&order=payment_id' },
  { path: '/visit?order=store_id,day' },
  {
    path: '/visit_1?order=store_id,day',
    documentedIn: ['fdw'],
    documented:
      'a partition of a table read through postgres_fdw (keyless, or "reads": "fdw") is not an endpoint of its own (README: answers that differ)',
  },
  { path: '/store?select=store_id,visit(day,visitors)&store_id=eq.2&visit.order=day' },
  { path: '/event?order=event_id' },
  { path: '/event?select=event_id,film(title)&kind=eq.rent&order=event_id' },
  {
    path: '/event_rent?order=event_id',
    documented:
      'a partition of a table read through postgres_fdw (keyless, or "reads": "fdw") is not an endpoint of its own (README: answers that differ)',
  },
  // Functions (test/fixtures/cinema/db/rds/migrations/030_functions.sql): every shape, GET and POST.
  { path: '/rpc/film_in_stock?p_film_id=1&p_store_id=2' },
  { path: '/rpc/rental_total?customer=3' },
  { method: 'POST', path: '/rpc/rental_total', body: { customer: 4 } },
  { path: '/rpc/films_by_rating?r=PG&select=film_id,title,language(name)&order=film_id&limit=3' },
  { path: '/rpc/films_by_rating?r=R&select=film_id&length=gt.100&order=film_id.desc' },
  { path: '/rpc/store_stock?order=store_id' },
  { path: '/rpc/films_longer?select=film_id,length&order=film_id' },
  { path: '/rpc/films_longer?min_length=175&select=film_id&order=film_id' },
  { path: '/rpc/film_count' },
  { path: '/rpc/film_count?r=G' },
  { method: 'POST', path: '/rpc/echo_json', body: { a: 1, b: [true, null] } },
  { path: '/rpc/sum_of?nums=1&nums=2&nums=39' },
  { path: '/film?select=film_id,film_label&film_id=lt.4&order=film_id' },
  { path: '/rpc/staff_pay_of?id=2' },
  { path: '/rpc/promo_discount?film=2' },
  { method: 'POST', path: '/rpc/promo_discount', body: { film: 5 } },
  { path: '/rpc/rental_total?nope=1' },
  { path: '/rpc/noop' },
  { method: 'POST', path: '/rpc/noop' },
  { path: '/rpc/add_actor?first=A&last=B' },
  { method: 'POST', path: '/rpc/add_actor', body: { first: 'ANON', last: 'CALLER' } },
  { method: 'POST', path: '/rpc/bump_rentals', body: { id: 1 } },
  { method: 'POST', path: '/rpc/reset_stats' },
  { path: '/film_stats?film_id=eq.1' },
];

const writes: OracleRequest[] = [
  // Inserts: one, several, with columns=, with defaults, the representation, headers only, minimal.
  {
    method: 'POST',
    path: '/language',
    headers: rep,
    body: { name: 'Klingon' },
    volatile: ['*.last_update'],
  },
  {
    method: 'POST',
    path: '/language?select=language_id,name',
    headers: { Prefer: 'return=headers-only' },
    body: { name: 'Esperanto' },
  },
  { method: 'POST', path: '/language', body: { name: 'Latin' } },
  {
    method: 'POST',
    path: '/country?columns=country&select=country_id,country',
    headers: rep,
    body: [{ country: 'Peru', ignored: 1 }, { country: 'Chile' }],
  },
  {
    method: 'POST',
    path: '/film?select=film_id,title,rental_duration,rental_rate,rating,language(name)',
    headers: rep,
    body: { title: 'NEW FILM', language_id: 2, special_features: ['Trailers'] },
  },
  {
    method: 'POST',
    path: '/film?columns=title,language_id,rental_rate&select=film_id,title,rental_rate',
    headers: { Prefer: 'return=representation,missing=default' },
    body: [
      { title: 'DEFAULTED', language_id: 1 },
      { title: 'PRICED', language_id: 1, rental_rate: 1.5 },
    ],
  },
  { method: 'POST', path: '/film_stats', headers: rep, body: { film_id: 2, rentals: 7 } },
  { method: 'POST', path: '/film_actor', headers: rep, body: [{ actor_id: 5, film_id: 31 }] },
  { path: '/film?select=film_id,title,actor(last_name),film_stats(rentals)&film_id=gte.30&order=film_id' },
  // Upserts: merge, ignore, on a unique column, PUT — on natural keys (a serial key is rds's to fill:
  // naming it is refused, as a column the caller may not write).
  {
    method: 'POST',
    path: '/category',
    headers: { Prefer: 'return=representation,resolution=merge-duplicates' },
    body: [
      { category_id: 1, name: 'Action!' },
      { category_id: 7, name: 'Horror' },
    ],
  },
  {
    method: 'POST',
    path: '/language',
    headers: { ...legacyWrite, Prefer: 'return=representation,resolution=merge-duplicates' },
    body: [
      { code: 'en', name: 'English (UK)' },
      { code: 'de', name: 'Deutsch' },
    ],
  },
  {
    method: 'POST',
    path: '/language',
    headers: { ...legacyWrite, Prefer: 'return=representation,resolution=ignore-duplicates' },
    body: [
      { code: 'it', name: 'never' },
      { code: 'es', name: 'Español' },
    ],
  },
  {
    method: 'POST',
    path: '/language?on_conflict=name&select=language_id,name',
    headers: { Prefer: 'return=representation,resolution=merge-duplicates' },
    body: { name: 'English' },
  },
  {
    method: 'POST',
    path: '/store_hours?on_conflict=store_id,weekday',
    headers: { Prefer: 'return=representation,resolution=merge-duplicates' },
    body: [
      { store_id: 2, weekday: 1, opens: '08:00', closes: '20:00' },
      { store_id: 2, weekday: 7, opens: '10:00', closes: '14:00' },
    ],
  },
  {
    method: 'PUT',
    path: '/store_hours?store_id=eq.3&weekday=eq.7',
    headers: rep,
    body: { store_id: 3, weekday: 7, opens: '11:00', closes: '15:00' },
  },
  {
    method: 'PUT',
    path: '/store_hours?store_id=eq.3&weekday=eq.7',
    headers: rep,
    body: { store_id: 3, weekday: 7, opens: '11:30', closes: '15:00' },
  },
  {
    method: 'PUT',
    path: '/category?category_id=eq.9',
    headers: rep,
    body: { category_id: 9, name: 'Sports' },
  },
  { path: '/store_hours?store_id=in.(2,3)&order=store_id,weekday' },
  { path: '/language?order=code', headers: legacy },
  { path: '/category?order=category_id' },
  // Updates and deletes with filters.
  {
    method: 'PATCH',
    path: '/film?film_id=in.(1,2)&select=film_id,rental_rate,length',
    headers: rep,
    body: { rental_rate: 1.99 },
  },
  { method: 'PATCH', path: '/film?film_id=eq.3', body: { length: 99 } },
  {
    method: 'PATCH',
    path: '/film?film_id=eq.4',
    headers: { Prefer: 'return=headers-only' },
    body: { length: 98 },
  },
  { method: 'PATCH', path: '/film?film_id=eq.999', headers: rep, body: { length: 1 } },
  { path: '/film?select=film_id,rental_rate,length&film_id=lt.6&order=film_id' },
  { method: 'DELETE', path: '/film_actor?actor_id=eq.5&film_id=eq.31', headers: rep },
  { method: 'DELETE', path: '/shift?shift_id=in.(11,12)' },
  { path: '/shift?select=shift_id&order=shift_id' },
  // Profiles for writes.
  {
    method: 'POST',
    path: '/language',
    headers: { ...legacyWrite, ...rep },
    body: { code: 'fr', name: 'Français' },
  },
  {
    method: 'PATCH',
    path: '/review?review_id=eq.1',
    headers: { ...legacyWrite, ...rep },
    body: { stars: 5 },
  },
  { path: '/language?order=code', headers: legacy },
  // What the database refuses.
  { method: 'POST', path: '/language', body: { name: 'English' } },
  { method: 'POST', path: '/city', body: { city: 'Nowhere', country_id: 999 } },
  { method: 'POST', path: '/city', body: { city: null, country_id: 1 } },
  {
    method: 'POST',
    path: '/store_hours',
    body: { store_id: 1, weekday: 9, opens: '09:00', closes: '10:00' },
  },
  { method: 'POST', path: '/film', body: { title: 'x', language_id: 1, nope: 1 } },
  { method: 'POST', path: '/film?columns=nope', body: { nope: 1 } },
  { method: 'POST', path: '/language', body: '{"name": ', headers: { 'Content-Type': 'application/json' } },
  { method: 'PATCH', path: '/film?film_id=eq.1', body: { release_year: 'soon' } },
  { method: 'DELETE', path: '/language?language_id=eq.1' },
  // Anonymous callers only read.
  { method: 'POST', path: '/language', body: { name: 'Anon' }, as: null },
  // Through a view ("access": "write"): to its table on rds, its check option as rds's.
  {
    method: 'POST',
    path: '/store_one_customer',
    headers: rep,
    body: { store_id: 1, first_name: 'VIEW', last_name: 'WRITER', address_id: 1 },
    capture: { viewCustomer: '0.customer_id' },
  },
  {
    method: 'POST',
    path: '/store_one_customer',
    body: { store_id: 2, first_name: 'WRONG', last_name: 'STORE', address_id: 1 },
  },
  {
    method: 'PATCH',
    path: '/store_one_customer?customer_id=eq.{{viewCustomer}}',
    headers: rep,
    body: { last_name: 'RENAMED' },
  },
  {
    method: 'PATCH',
    path: '/store_one_customer?customer_id=eq.{{viewCustomer}}',
    body: { store_id: 3 },
    documentedIn: ['fdw'],
    documentedParts: ['details'],
    documented:
      "over postgres_fdw, a check option's refusal of an update shows only the columns the update read from rds (README: answers that differ)",
  },
  { path: '/customer?select=customer_id,store_id,last_name&customer_id=eq.{{viewCustomer}}' },
  { path: '/sales_by_store?order=store_id' },
  { method: 'DELETE', path: '/store_one_customer?customer_id=eq.{{viewCustomer}}', headers: rep },
  { path: '/store_one_customer?customer_id=eq.{{viewCustomer}}' },
  // Partitioned tables: rows land in the partition rds picks; a partition refuses another's rows; a
  // row an update moves to another partition stays one row; the keyless parent is written by the key
  // its partitions share.
  {
    method: 'POST',
    path: '/payment_p',
    headers: rep,
    body: { customer_id: 2, amount: 3.5, paid_at: '2024-01-15T10:00:00+00:00' },
    capture: { payment: '0.payment_id' },
  },
  {
    path: '/payment_p_2024_01?payment_id=eq.{{payment}}',
    documentedIn: ['fdw'],
    documented:
      'a partition of a table read through postgres_fdw (keyless, or "reads": "fdw") is not an endpoint of its own (README: answers that differ)',
  },
  {
    method: 'POST',
    path: '/payment_p_2024_01',
    body: { customer_id: 2, amount: 1, paid_at: '2024-02-15T00:00:00+00:00' },
  },
  { method: 'PATCH', path: '/payment_p?payment_id=eq.{{payment}}', headers: rep, body: { amount: 4.25 } },
  {
    method: 'PATCH',
    path: '/payment_p?payment_id=eq.{{payment}}',
    headers: rep,
    body: { paid_at: '2024-02-10T00:00:00+00:00' },
  },
  { path: '/payment_p?payment_id=eq.{{payment}}' },
  {
    path: '/payment_p_2024_02?payment_id=eq.{{payment}}',
    documentedIn: ['fdw'],
    documented:
      'a partition of a table read through postgres_fdw (keyless, or "reads": "fdw") is not an endpoint of its own (README: answers that differ)',
  },
  {
    path: '/payment_p_2024_01?payment_id=eq.{{payment}}',
    documentedIn: ['fdw'],
    documented:
      'a partition of a table read through postgres_fdw (keyless, or "reads": "fdw") is not an endpoint of its own (README: answers that differ)',
  },
  {
    method: 'POST',
    path: '/payment_p_2024_02',
    headers: rep,
    body: { customer_id: 3, amount: 2, paid_at: '2024-02-20T00:00:00+00:00' },
  },
  { method: 'DELETE', path: '/payment_p?payment_id=eq.{{payment}}', headers: rep },
  { method: 'POST', path: '/event', headers: rep, body: { event_id: 100, kind: 'return', film_id: 3 } },
  { method: 'PATCH', path: '/event?event_id=eq.100', headers: rep, body: { note: 'checked' } },
  { method: 'DELETE', path: '/event?event_id=eq.100', headers: rep },
  { method: 'POST', path: '/visit', headers: rep, body: { store_id: 3, day: '2024-04-01', visitors: 5 } },
  { method: 'PATCH', path: '/visit_1?store_id=eq.3&day=eq.2024-04-01', headers: rep, body: { visitors: 6 } },
  { path: '/visit?store_id=eq.3&order=day' },
  // Functions that write, called by a signed-in user, and read back.
  {
    method: 'POST',
    path: '/rpc/add_actor',
    headers: rep,
    body: { first: 'FUNC', last: 'WRITER' },
    capture: { funcActor: 'actor_id' },
  },
  { path: '/actor?last_name=eq.WRITER' },
  {
    method: 'POST',
    path: '/rpc/add_actor?select=actor_id,film_actor(film_id)',
    body: { first: 'SECOND', last: 'WRITER' },
  },
  { method: 'POST', path: '/rpc/touch_film', body: { id: 2 } },
  { path: '/film?select=film_id,rental_duration&film_id=in.(2,3)&order=film_id' },
  { method: 'POST', path: '/rpc/touch_film', headers: { Prefer: 'tx=rollback' }, body: { id: 3 } },
  { method: 'POST', path: '/rpc/add_actor', body: { first: null } },
  { method: 'POST', path: '/rpc/reset_stats' },
  // A view that takes no writes, and one that is read only ("access" default "read").
  { method: 'POST', path: '/film_list', body: { title: 'x' } },
  { method: 'DELETE', path: '/active_customer?customer_id=eq.1' },
];

/** Signed in unless a request says otherwise: the fixture's tables are "write" (web_user writes). */
export const cinemaCorpus: OracleRequest[] = [...reads, ...writes.map((w) => ({ as: 'oracle-test', ...w }))];
