import Routing

/// What the dispatch machine asks its session about while it decides: the state of the node
/// connections and the cluster's view of the nodes. The channel handler implements it over its
/// connections and the cluster state; tests implement it with plain values.
protocol DispatchEnvironment {
    /// Whether the session holds a connection to `node`.
    func isConnected(_ node: Int) -> Bool
    /// Whether `node`'s connection has answered everything it was sent (no connection: true).
    func isQuiescent(_ node: Int) -> Bool
    /// Whether what `node` sent so far ends on a message boundary.
    func isAtMessageBoundary(_ node: Int) -> Bool
    /// The nodes routing may use now.
    mutating func routingNodes() -> RoutingNodes
    /// A node drawn for statement-level load balancing.
    mutating func pick() -> Int?
    /// prefer_lower_delay_standby: the readable standby with the least delay.
    mutating func leastDelayed() -> Int?
    /// read_your_writes: the number of the latest sample of the primary's WAL position.
    func currentWALSample() -> Int
    /// read_your_writes: the standbys that replayed the primary's position of the first sample
    /// after `sample`.
    func standbys(caughtUpAfter sample: Int) -> Set<Int>
    /// read_your_writes: the standbys whose replay position is at least `position`.
    func standbys(replayedAtLeast position: UInt64) -> Set<Int>
    /// The classification of the text of a Parse (the session's environment keeps those of texts
    /// seen recently: drivers parse the same unnamed statements again and again).
    mutating func classification(ofParsed text: String) -> QueryClassification
    /// The classification of a simple query's text (the session's environment keeps those of
    /// query templates seen recently: applications send the same queries with other values).
    mutating func classification(ofQuery text: String) -> QueryClassification
}

/// Catalog answers for one session, noting the questions it could not answer yet.
protocol SessionFacts: CatalogFacts {
    /// The facts asked for and not known since the last call.
    func takeMisses() -> [CatalogFactsCache.Key]
}

extension SessionCatalogFacts: SessionFacts {}
