import Cluster

extension BackendChangeOutcome {
    /// What the member that asked `leader` (described as the caller names it, e.g. "the leader
    /// a") makes of its answer; `nil` when none came in time. For `.applied` the caller adopts
    /// the leader's view of the backends first.
    public static func verdict(_ outcome: BackendChangeOutcome?, from leader: String, confirmed: Bool) -> CoordinationVerdict {
        switch outcome {
        case .applied?: .remote(.success(()))
        case .refused(let why)?: .remote(.failure(.refusedByLeader(why)))
        case .quarantine(let why)?: .quarantine("\(leader) says: \(why)")
        case .notLeader?, nil: .noLeader("\(leader) did not decide; try again", confirmed: confirmed)
        }
    }
}
