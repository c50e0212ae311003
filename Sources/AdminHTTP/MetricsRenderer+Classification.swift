import Metrics
import Proxy

/// `swiftpool_classification_cache_*`: how the event loops' caches of query classifications
/// answer — Parse texts matched whole, simple queries matched by their template.
extension MetricsRenderer {
    static func renderClassificationCache(_ counts: ProxySnapshot.Classifications, into out: inout PrometheusWriter) {
        let stores: [(label: String, hits: Int, misses: Int, entries: Int)] = [
            ("parse", counts.parseHits, counts.parseMisses, counts.parseEntries),
            ("query_template", counts.templateHits, counts.templateMisses, counts.templateEntries),
        ]
        out.family("swiftpool_classification_cache_hits_total", .counter,
                   "Statements whose classification came from the cache: a Parse text, or a simple query's template, seen recently on its event loop.")
        for store in stores { out.sample("swiftpool_classification_cache_hits_total", [("store", store.label)], store.hits) }
        out.family("swiftpool_classification_cache_misses_total", .counter,
                   "Statements classified because the cache did not have them (a template whose statements read a literal, such as SET, is never kept).")
        for store in stores { out.sample("swiftpool_classification_cache_misses_total", [("store", store.label)], store.misses) }
        out.family("swiftpool_classification_cache_entries", .gauge, "Parse texts and query templates the caches keep now.")
        for store in stores { out.sample("swiftpool_classification_cache_entries", [("store", store.label)], store.entries) }
    }
}
