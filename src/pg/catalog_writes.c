/*
 * Catalog writes managed_roles makes itself instead of running a statement
 * with more rights than its caller (what credcheck's VALID UNTIL injection
 * got wrong, its issues #61 and #81): one field of one row, decided by
 * managed_roles' own rule.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/*
 * Sets rolvaliduntil of `role` to `cap` if it is unset or later: only ever
 * shortens how long the password stays valid. Returns whether it changed.
 * Inside the transaction that changed the password.
 */
bool
managed_roles_cap_valid_until(Oid role, TimestampTz cap)
{
	Relation	relation;
	HeapTuple	tuple;
	HeapTuple	changed;
	bool		isnull;
	Datum		current;
	Datum		values[Natts_pg_authid] = {0};
	bool		nulls[Natts_pg_authid] = {0};
	bool		replace[Natts_pg_authid] = {0};

	relation = table_open(AuthIdRelationId, RowExclusiveLock);
	tuple = SearchSysCacheCopy1(AUTHOID, ObjectIdGetDatum(role));
	if (!HeapTupleIsValid(tuple))
	{
		table_close(relation, RowExclusiveLock);
		return false;
	}
	current = heap_getattr(tuple, Anum_pg_authid_rolvaliduntil, RelationGetDescr(relation), &isnull);
	if (!isnull && DatumGetTimestampTz(current) <= cap)
	{
		heap_freetuple(tuple);
		table_close(relation, RowExclusiveLock);
		return false;
	}
	values[Anum_pg_authid_rolvaliduntil - 1] = TimestampTzGetDatum(cap);
	replace[Anum_pg_authid_rolvaliduntil - 1] = true;
	changed = heap_modify_tuple(tuple, RelationGetDescr(relation), values, nulls, replace);
	CatalogTupleUpdate(relation, &changed->t_self, changed);
	heap_freetuple(changed);
	heap_freetuple(tuple);
	table_close(relation, RowExclusiveLock);
	CommandCounterIncrement();
	return true;
}
