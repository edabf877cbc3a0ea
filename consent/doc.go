// Package consent decides who may read and write a patient's records.
//
// One pure function, Decide, answers every such question, in the ledger
// (a record write is checked with it) and at every gateway (a read is
// served only when it allows). It reads a State (the committed ledger
// state, or an in-memory Index of it) and a Request, and returns a
// Decision with a reason in plain words. It has no clock (the request
// carries the block time it is judged at), does no I/O but reading the
// State, and is deterministic. Explain answers "why can (or can't) X read
// Y?" in a sentence or two.
//
// # Categories
//
// A record is labelled with every category it touches; a scope is a set
// of categories, bit 1<<c for category c (Bit). Categories 1 to 11 are
// Clinical: demographics, encounters, conditions, medications,
// allergies, immunizations, lab results, imaging, clinical notes,
// insurance and billing, directives. Categories 16 to 20 are the
// Sensitive labels: mental health, substance use, sexual and
// reproductive health, HIV, genetic. A scope reaches a sensitive label
// only when it names it: "all-clinical" does not include them, and a
// note labelled mental health needs a scope that says mental health.
// A request needs every one of its categories in scope.
//
// ParseCategories reads scopes as people and scripts write them
// ("conditions,medications", "all-clinical,mental-health", "emergency");
// FormatCategories writes them back; DescribeCategories writes prose.
//
// # The rules
//
// Decide applies these rules in order; the first that allows decides,
// and a denial gives the first reason that matters.
//
//  1. The patient always reads and writes their own records (Via
//     "patient").
//  2. A request must name an action (Read or Write) and at least one
//     category, all of them defined.
//  3. A reader acting for an organisation (Request.Org) must be one of
//     its employees, and the employee's role must cover every category
//     (RoleCategories): physicians, nurses and emergency physicians
//     every category (sensitive labels still only where the grant names
//     them); billing demographics, encounters and insurance and billing;
//     lab technicians demographics and lab results; pharmacists
//     demographics, medications and allergies; privacy officers and
//     admins nothing, for they manage and review and do not read charts.
//     Then the patient's grant to the organisation serves (Via "org
//     grant"), or else the patient's grant to the reader personally
//     (Via "grant"). An organisation's own key acting as itself reads
//     under the organisation's grant.
//  4. A reader acting as itself: a delegation from the patient serves
//     within its scope, for reading and writing, until it expires (Via
//     "delegation"); or else the patient's grant to the reader (Via
//     "grant").
//  5. A grant serves when it is not revoked, has started (block time ≥
//     not_before), has not expired (block time < expires: at expires it
//     is over), has the permission (a write-only grant never reads, a
//     read-only one never writes), is for the request's purpose of use
//     (a grant for treatment does not serve payment; a read must state
//     its purpose; a write may leave it unspecified), and covers every
//     category. Purpose emergency is never served by a grant.
//  6. Break-glass: a read for emergency or treatment by a practitioner
//     whose latest break-glass for the patient is open (opened ≤ block
//     time < closes), for the organisation it was opened for, who is
//     still an emergency physician there, within the categories it
//     opened (the emergency set, or the patient's limited set) (Via
//     "break-glass").
//
// Changes take effect with the block that makes them: a revocation, a
// removed employee or a changed role is seen by the next decision on the
// committed state. If the reader holds a grant or a delegation that
// does not serve, its reason is given; otherwise a break-glass's reason,
// if there is one; otherwise "the patient has not granted … access".
//
// Reasons read like "granted by the patient until 2027-01-31 for
// treatment", "revoked on 2026-11-02", "scope excludes mental health",
// "Park's role (billing) does not cover clinical notes", "break-glass by
// Dr Novak open until 2026-06-01 16:00 UTC". They name organisations and
// people by State.Names (never PHI) and carry no clinical content.
//
// # Grants, delegations and break-glass on the ledger
//
// The ledger (package ledger) keeps the state Decide reads and checks
// the transactions that change it:
//
//   - Grant, signed by the patient or by a delegate allowed to grant
//     (within the delegate's scope, and ending by the delegation's end),
//     gives a grantee (an organisation, a practitioner, a caregiver, an
//     insurer) access for a scope, a purpose and a permission, from
//     not_before until expires, committing to the hash of the key bundle
//     that seals the scope's category keys to the grantee. A grantee
//     holds one grant: a new grant to a grantee whose grant is in force
//     is refused, with what that grant covers, unless it says it
//     replaces it (Grant.replace; a delegate replaces only a grant within
//     its scope). Nobody loses access without the patient saying so.
//   - Times a person gives as a day are whole days: "until 2027-12-31"
//     is stored as the midnight that starts 2028-01-01 and said as "until
//     the end of 2027-12-31" (FormatEnd).
//   - Revoke ends a grant at once, and may start a new key set and
//     re-issue its keys to those who keep access.
//   - Delegate and Undelegate: a caregiver or guardian acts for the
//     patient within a scope, with or without the right to grant. A
//     delegate allowed to grant grants and revokes within its scope, but
//     the patient's key set (PublishKeys, and the new key set, own bundle
//     and re-issued bundles a Revoke may carry) holds the keys of every
//     category: a delegate changes it only when its scope covers every
//     category ("a caregiver delegated demographics cannot change the
//     patient's keys; only the patient can"). A delegate's revocation
//     without a new key set ends the access at every gateway at once; new
//     key epochs are the patient's to start. The patient's Undelegate may
//     start one for the categories the delegate held keys of, as a Revoke
//     does; a delegate stepping down never does. Likewise the break-glass
//     policy governs the whole emergency set: a delegate sets it only
//     when its scope covers the whole emergency set.
//   - BreakGlass, by an emergency physician for an organisation, with
//     the hash of a reason: opens a read of the patient's emergency set
//     (EmergencySet: allergies, medications, conditions, immunizations,
//     directives, or the patient's limited set) for the network's
//     break-glass window; notifies the patient; queues the access for
//     review by the organisation's privacy officer and the patient; and
//     flags a practitioner's repeated break-glass.
//   - SetBreakGlassPolicy: the patient turns break-glass off or limits
//     it, ahead of time; the policy also closes or narrows a window
//     already open.
//
// # Gateways
//
// A gateway decides on its node's committed state. The ledger's
// ConsentState reads the store for each decision; an Index holds what
// Decide needs in memory (a 64-byte slot per grant), loaded from the
// ledger and updated after each block, and decides with no allocation in
// a few hundred nanoseconds with a million grants (BenchmarkDecide).
package consent
