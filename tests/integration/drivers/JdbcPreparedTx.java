// pgjdbc with server-side prepared statements from the first execution
// (prepareThreshold=1): several threads, one connection each, many short
// transactions that reuse the same named statements. Every result is checked.
// Prints one JSON object on stdout; exits non-zero when anything went wrong.
//
//   java -cp /usr/share/java/postgresql.jar JdbcPreparedTx.java \
//       --url jdbc:postgresql://127.0.0.1:PORT/DB --user U --password PW \
//       --table T --threads 6 --iterations 60
//
// The table must exist: (thread int, iter int, k int, v int).
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

public class JdbcPreparedTx {
    static final List<String> errors = Collections.synchronizedList(new ArrayList<>());
    static final AtomicInteger committed = new AtomicInteger();
    static final AtomicInteger rolledBack = new AtomicInteger();
    static final AtomicInteger checks = new AtomicInteger();
    static final Set<Integer> backendPids = Collections.synchronizedSet(new HashSet<>());
    static final Map<Integer, Integer> pidsPerThread = Collections.synchronizedMap(new HashMap<>());
    static final AtomicInteger serverPrepared = new AtomicInteger();

    static void check(boolean ok, String what) {
        checks.incrementAndGet();
        if (!ok) {
            errors.add(what);
            throw new IllegalStateException(what);
        }
    }

    static void worker(String url, Properties props, String table, int t, int iterations) {
        Set<Integer> myPids = new HashSet<>();
        try (Connection conn = DriverManager.getConnection(url, props)) {
            conn.setAutoCommit(false);
            // Held for the whole run: prepared on the server once per connection by the driver.
            PreparedStatement calc = conn.prepareStatement(
                "SELECT ?::int * 5 + ?::int AS v, pg_backend_pid() AS pid");
            PreparedStatement insert = conn.prepareStatement(
                "INSERT INTO " + table + " (thread, iter, k, v) VALUES (?, ?, ?, ?)");
            for (int i = 0; i < iterations; i++) {
                calc.setInt(1, i);
                calc.setInt(2, t);
                try (ResultSet rs = calc.executeQuery()) {
                    check(rs.next(), "calc returned no row");
                    int v = rs.getInt(1);
                    check(v == i * 5 + t, "calc(" + i + "," + t + ") = " + v);
                    myPids.add(rs.getInt(2));
                }
                if (calc.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare()) {
                    serverPrepared.incrementAndGet();
                }
                // A new PreparedStatement object for the same text each time: the
                // driver's statement cache gives it the server statement it already has.
                try (PreparedStatement concat = conn.prepareStatement("SELECT ?::text || '-' || ?::int AS s")) {
                    concat.setString(1, "t" + t);
                    concat.setInt(2, i);
                    try (ResultSet rs = concat.executeQuery()) {
                        check(rs.next(), "concat returned no row");
                        String s = rs.getString(1);
                        check(("t" + t + "-" + i).equals(s), "concat(t" + t + "," + i + ") = " + s);
                    }
                }
                // A batch of inserts through one named statement, then a read in the same transaction.
                int rows = 1 + i % 4;
                int sum = 0;
                for (int k = 0; k < rows; k++) {
                    insert.setInt(1, t);
                    insert.setInt(2, i);
                    insert.setInt(3, k);
                    insert.setInt(4, t * 1000 + i * 10 + k);
                    sum += t * 1000 + i * 10 + k;
                    insert.addBatch();
                }
                int[] counts = insert.executeBatch();
                check(counts.length == rows, "batch returned " + counts.length + " counts for " + rows + " rows");
                try (PreparedStatement sel = conn.prepareStatement(
                        "SELECT count(*)::int, coalesce(sum(v), 0)::int FROM " + table + " WHERE thread = ? AND iter = ?")) {
                    sel.setInt(1, t);
                    sel.setInt(2, i);
                    try (ResultSet rs = sel.executeQuery()) {
                        check(rs.next(), "select returned no row");
                        check(rs.getInt(1) == rows && rs.getInt(2) == sum,
                              "thread " + t + " iter " + i + " sees " + rs.getInt(1) + " rows sum " + rs.getInt(2)
                              + ", expected " + rows + " sum " + sum);
                    }
                }
                if (i % 7 == 3) {
                    conn.rollback();
                    rolledBack.incrementAndGet();
                } else {
                    conn.commit();
                    committed.incrementAndGet();
                }
            }
            calc.close();
            insert.close();
        } catch (Exception e) {
            String msg = e.getClass().getSimpleName() + ": " + e.getMessage();
            if (e instanceof SQLException) {
                msg += " (SQLSTATE " + ((SQLException) e).getSQLState() + ")";
            }
            if (!(e instanceof IllegalStateException)) {
                errors.add("thread " + t + ": " + msg);
            }
        } finally {
            backendPids.addAll(myPids);
            pidsPerThread.put(t, myPids.size());
        }
    }

    static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        String url = opts.get("url");
        String table = opts.get("table");
        int threads = Integer.parseInt(opts.getOrDefault("threads", "6"));
        int iterations = Integer.parseInt(opts.getOrDefault("iterations", "60"));
        Properties props = new Properties();
        props.setProperty("user", opts.get("user"));
        props.setProperty("password", opts.get("password"));
        props.setProperty("prepareThreshold", "1");
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");
        props.setProperty("ApplicationName", "jdbc_prepared_tx");

        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            Thread th = new Thread(() -> worker(url, props, table, id, iterations));
            workers.add(th);
            th.start();
        }
        for (Thread th : workers) th.join();

        StringBuilder out = new StringBuilder("{");
        out.append("\"ok\": ").append(errors.isEmpty());
        out.append(", \"committed\": ").append(committed.get());
        out.append(", \"rolled_back\": ").append(rolledBack.get());
        out.append(", \"checks\": ").append(checks.get());
        out.append(", \"server_prepared\": ").append(serverPrepared.get());
        out.append(", \"backend_pids\": [");
        synchronized (backendPids) {
            int n = 0;
            for (int pid : backendPids) {
                if (n++ > 0) out.append(", ");
                out.append(pid);
            }
        }
        out.append("]");
        out.append(", \"pids_per_thread\": [");
        for (int t = 0; t < threads; t++) {
            if (t > 0) out.append(", ");
            out.append(pidsPerThread.getOrDefault(t, 0));
        }
        out.append("], \"errors\": [");
        synchronized (errors) {
            for (int i = 0; i < errors.size() && i < 20; i++) {
                if (i > 0) out.append(", ");
                out.append(jsonString(errors.get(i)));
            }
        }
        out.append("]}");
        System.out.println(out);
        System.exit(errors.isEmpty() ? 0 : 1);
    }
}
