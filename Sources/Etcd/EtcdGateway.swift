import Foundation

/// The JSON shapes of etcd v3's gateway (etcd 3.4: `POST /v3/...`). Keys and values travel as
/// base64; 64-bit numbers come back as strings, and fields at their zero value are left out.
public enum EtcdGateway {
    // MARK: Requests

    public struct Grant: Encodable, Sendable {
        public var TTL: Int
    }

    public struct LeaseID: Encodable, Sendable {
        public var ID: String
    }

    public struct Range: Encodable, Sendable {
        public var key: String
        public var range_end: String?

        public init(key: String, rangeEnd: String? = nil) {
            self.key = EtcdGateway.encode(key)
            self.range_end = rangeEnd.map(EtcdGateway.encode)
        }
    }

    public struct Authenticate: Encodable, Sendable {
        public var name: String
        public var password: String
    }

    /// One condition of a transaction.
    public struct Compare: Encodable, Sendable, Equatable {
        public var key: String
        public var target: String
        public var result: String = "EQUAL"
        public var create_revision: String?
        public var value: String?

        /// The key does not exist.
        public static func absent(_ key: String) -> Compare {
            Compare(key: EtcdGateway.encode(key), target: "CREATE", create_revision: "0")
        }

        /// The key holds exactly `value`.
        public static func value(_ key: String, is value: String) -> Compare {
            Compare(key: EtcdGateway.encode(key), target: "VALUE", value: EtcdGateway.encode(value))
        }
    }

    /// One operation of a transaction.
    public struct Operation: Encodable, Sendable, Equatable {
        public struct Put: Encodable, Sendable, Equatable {
            public var key: String
            public var value: String
            public var lease: String?
        }

        public struct Delete: Encodable, Sendable, Equatable {
            public var key: String
        }

        public struct Get: Encodable, Sendable, Equatable {
            public var key: String
        }

        public var request_put: Put?
        public var request_delete_range: Delete?
        public var request_range: Get?

        public static func put(_ key: String, _ value: String, lease: String? = nil) -> Operation {
            Operation(request_put: Put(key: EtcdGateway.encode(key), value: EtcdGateway.encode(value), lease: lease))
        }

        public static func delete(_ key: String) -> Operation {
            Operation(request_delete_range: Delete(key: EtcdGateway.encode(key)))
        }

        public static func get(_ key: String) -> Operation {
            Operation(request_range: Get(key: EtcdGateway.encode(key)))
        }
    }

    public struct Transaction: Encodable, Sendable, Equatable {
        public var compare: [Compare]
        public var success: [Operation]
        public var failure: [Operation]

        public init(compare: [Compare], success: [Operation], failure: [Operation] = []) {
            self.compare = compare
            self.success = success
            self.failure = failure
        }
    }

    public struct Watch: Encodable, Sendable {
        public struct Create: Encodable, Sendable {
            public var key: String
            public var range_end: String
            public var start_revision: String
        }

        public var create_request: Create

        public init(key: String, rangeEnd: String, startRevision: Int64) {
            create_request = Create(key: EtcdGateway.encode(key), range_end: EtcdGateway.encode(rangeEnd), start_revision: "\(startRevision)")
        }
    }

    // MARK: Answers

    public struct Header: Decodable, Sendable {
        public var revision: String?

        public var revisionNumber: Int64 { revision.flatMap { Int64($0) } ?? 0 }
    }

    /// A key and its value, decoded.
    public struct KeyValue: Decodable, Sendable, Equatable {
        public var key: String
        public var value: String
        public var lease: String?
        public var modRevision: Int64

        enum CodingKeys: String, CodingKey { case key, value, lease, mod_revision }

        public init(key: String, value: String, lease: String? = nil, modRevision: Int64 = 0) {
            self.key = key
            self.value = value
            self.lease = lease
            self.modRevision = modRevision
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            key = EtcdGateway.decode(try container.decode(String.self, forKey: .key))
            value = EtcdGateway.decode(try container.decodeIfPresent(String.self, forKey: .value) ?? "")
            lease = try container.decodeIfPresent(String.self, forKey: .lease)
            modRevision = Int64(try container.decodeIfPresent(String.self, forKey: .mod_revision) ?? "0") ?? 0
        }
    }

    public struct GrantAnswer: Decodable, Sendable {
        public var ID: String?
        public var TTL: String?
        public var error: String?
    }

    public struct KeepaliveAnswer: Decodable, Sendable {
        public struct Result: Decodable, Sendable {
            public var ID: String?
            public var TTL: String?
        }

        public var result: Result?

        /// The lease's remaining time; nil when etcd no longer knows the lease.
        public var ttl: Int? { result?.TTL.flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } }
    }

    public struct RangeAnswer: Decodable, Sendable {
        public var header: Header?
        public var kvs: [KeyValue]?
    }

    public struct TransactionAnswer: Decodable, Sendable {
        public struct Response: Decodable, Sendable {
            public var response_range: RangeAnswer?
        }

        public var header: Header?
        public var succeeded: Bool?
        public var responses: [Response]?

        /// The key values the failure branch's `get` returned.
        public var ranged: [KeyValue] { (responses ?? []).flatMap { $0.response_range?.kvs ?? [] } }
    }

    public struct AuthenticateAnswer: Decodable, Sendable {
        public var token: String?
    }

    /// An error answer: `{"error": "...", "message": "...", "code": 3}`.
    public struct ErrorAnswer: Decodable, Sendable, Equatable {
        public var error: String?
        public var message: String?
        public var code: Int?
    }

    /// One message of a watch stream.
    public struct WatchMessage: Decodable, Sendable {
        public struct Result: Decodable, Sendable {
            public var header: Header?
            public var created: Bool?
            public var canceled: Bool?
            public var compact_revision: String?
            public var cancel_reason: String?
            public var events: [Event]?
        }

        public struct Event: Decodable, Sendable {
            public var type: String?
            public var kv: KeyValue
        }

        public var result: Result?
        public var error: ErrorAnswer?
    }

    // MARK: Base64

    public static func encode(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    public static func decode(_ base64: String) -> String {
        guard let data = Data(base64Encoded: base64) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A change seen on a watch: a key written, or deleted (also by its lease running out).
public enum EtcdChange: Sendable, Equatable {
    case put(EtcdGateway.KeyValue)
    case delete(key: String)
}

extension EtcdGateway.WatchMessage {
    /// The changes this message carries, in revision order.
    public var changes: [EtcdChange] {
        (result?.events ?? []).map { event in
            event.type == "DELETE" ? .delete(key: event.kv.key) : .put(event.kv)
        }
    }
}
