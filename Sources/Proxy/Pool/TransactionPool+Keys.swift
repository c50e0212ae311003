import Configuration

/// What tells the transaction pool's connections apart, and groups them for their limits.
extension TransactionPool {
    /// A connection is interchangeable with another of the same startup packet, opened with the
    /// same clear-text client password (allow_clear_text_frontend_auth).
    struct Key: Hashable {
        var pool: PoolKey
        var clientPassword: String?

        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.pool == rhs.pool && ClientPassword.same(lhs.clientPassword, rhs.clientPassword)
        }

        /// The password's bytes stay out of the hash; equal keys still hash alike.
        func hash(into hasher: inout Hasher) {
            hasher.combine(pool)
            hasher.combine(clientPassword != nil)
        }
    }

    /// The connections of one user and database, which may have a limit of their own (names
    /// compared byte for byte, as PostgreSQL compares them).
    struct Group: Hashable {
        var user: String
        var database: String

        static func == (lhs: Group, rhs: Group) -> Bool {
            lhs.user.hasSameBytes(as: rhs.user) && lhs.database.hasSameBytes(as: rhs.database)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combineBytes(of: user)
            hasher.combineBytes(of: database)
        }
    }
}
