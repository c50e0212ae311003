// pgjdbc over TLS through SwiftPool's routing: where do writes and reads run, and is the
// connection encrypted? One connection; the TLS session is read from the driver's socket.
// Prints one JSON object on stdout. Exit 0: the workload ran (the caller judges the ports);
// 1: a result was wrong or a statement failed; 2: the connection could not be opened
// (the JSON then holds the error, its SQLSTATE and its chain of causes).
//
//   java -cp /usr/share/java/postgresql.jar JdbcTlsRouting.java \
//       --url 'jdbc:postgresql://localhost:PORT/DB?ssl=true&sslmode=verify-full&sslrootcert=CA' \
//       --user U --password PW --table T --primary-port 15501 [--part autocommit|transaction] [--reads 60]
//
// --part autocommit (default): writes, balanced reads and named reads in autocommit mode.
// --part transaction: transactions (setAutoCommit(false)) that write and commit or roll back;
//   reports the driver's transaction state after every statement in them.
// --connect-only: open the connection, report its TLS session, close it.
// The table is created when missing: (id int, note text).
import java.lang.reflect.Field;
import java.net.Socket;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;

import org.postgresql.PGStatement;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.PGStream;

public class JdbcTlsRouting {
    static final List<String> errors = new ArrayList<>();

    static void check(boolean ok, String what) {
        if (!ok) {
            errors.add(what);
        }
    }

    /** The driver's socket to the server: PGStream of the connection's query executor. */
    static Socket socketOf(Connection conn) throws Exception {
        Object executor = conn.unwrap(BaseConnection.class).getQueryExecutor();
        for (Class<?> c = executor.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField("pgStream");
                f.setAccessible(true);
                return ((PGStream) f.get(executor)).getSocket();
            } catch (NoSuchFieldException e) {
                // look in the superclass
            }
        }
        throw new IllegalStateException("no pgStream field in " + executor.getClass());
    }

    static String tlsJson(Connection conn) throws Exception {
        Socket socket = socketOf(conn);
        StringBuilder b = new StringBuilder("{");
        b.append("\"socket\": ").append(json(socket.getClass().getName()));
        if (socket instanceof SSLSocket) {
            SSLSession session = ((SSLSocket) socket).getSession();
            b.append(", \"protocol\": ").append(json(session.getProtocol()));
            b.append(", \"cipher\": ").append(json(session.getCipherSuite()));
            Certificate[] peer = session.getPeerCertificates();
            X509Certificate leaf = (X509Certificate) peer[0];
            b.append(", \"peer_subject\": ").append(json(leaf.getSubjectX500Principal().getName()));
            b.append(", \"peer_issuer\": ").append(json(leaf.getIssuerX500Principal().getName()));
        }
        return b.append("}").toString();
    }

    static String json(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String json(List<Integer> values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.size(); i++) {
            if (i > 0) b.append(", ");
            b.append(values.get(i));
        }
        return b.append("]").toString();
    }

    /** Runs a prepared read "SELECT inet_server_port(), ?::int * 3" and checks its value. */
    static int readPort(PreparedStatement read, int i) throws SQLException {
        read.setInt(1, i);
        try (ResultSet rs = read.executeQuery()) {
            check(rs.next(), "read " + i + " returned no row");
            check(rs.getInt(2) == i * 3, "read " + i + " computed " + rs.getInt(2));
            return rs.getInt(1);
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        boolean connectOnly = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--connect-only")) {
                connectOnly = true;
            } else {
                opts.put(args[i].replaceFirst("^--", ""), args[++i]);
            }
        }
        Properties props = new Properties();
        props.setProperty("user", opts.get("user"));
        props.setProperty("password", opts.get("password"));
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");
        props.setProperty("ApplicationName", "jdbc_tls_routing");

        Connection conn;
        try {
            conn = DriverManager.getConnection(opts.get("url"), props);
        } catch (SQLException e) {
            StringBuilder out = new StringBuilder("{\"connected\": false");
            out.append(", \"error\": ").append(json(e.getMessage()));
            out.append(", \"sqlstate\": ").append(json(e.getSQLState()));
            out.append(", \"causes\": [");
            int n = 0;
            for (Throwable t = e.getCause(); t != null && n < 10; t = t.getCause(), n++) {
                if (n > 0) out.append(", ");
                out.append(json(t.getClass().getName() + ": " + t.getMessage()));
            }
            out.append("]}");
            System.out.println(out);
            System.exit(2);
            return;
        }

        StringBuilder out = new StringBuilder("{\"connected\": true");
        try (Connection c = conn) {
            out.append(", \"tls\": ").append(tlsJson(c));
            if (!connectOnly) {
                workload(c, opts, out);
            }
        } catch (Exception e) {
            String msg = e.getClass().getSimpleName() + ": " + e.getMessage();
            if (e instanceof SQLException) {
                msg += " (SQLSTATE " + ((SQLException) e).getSQLState() + ")";
            }
            errors.add(msg);
        }
        out.append(", \"errors\": [");
        for (int i = 0; i < errors.size() && i < 20; i++) {
            if (i > 0) out.append(", ");
            out.append(json(errors.get(i)));
        }
        out.append("], \"ok\": ").append(errors.isEmpty()).append("}");
        System.out.println(out);
        System.exit(errors.isEmpty() ? 0 : 1);
    }

    static void createTable(Connection conn, String table) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS " + table + " (id int, note text)");
        }
    }

    /** Reads balanced as unnamed statements, and the same read as a named statement. */
    static PreparedStatement balancedRead(Connection conn) throws SQLException {
        PreparedStatement read = conn.prepareStatement("SELECT inet_server_port(), ?::int * 3");
        read.unwrap(PGStatement.class).setPrepareThreshold(0);  // never server-prepared
        return read;
    }

    static PreparedStatement namedRead(Connection conn) throws SQLException {
        PreparedStatement read = conn.prepareStatement("SELECT inet_server_port(), ?::int * 3 AS named");
        read.unwrap(PGStatement.class).setPrepareThreshold(1);  // a named statement from the first run
        return read;
    }

    /** SwiftPool sends a statement whose function it has not looked up yet to the primary while
     * it learns; wait until a read is balanced. Returns the reads that went to the primary. */
    static int warmUp(PreparedStatement read, int primary) throws Exception {
        int warmup = 0;
        while (warmup < 50 && readPort(read, warmup) == primary) {
            warmup++;
            Thread.sleep(100);
        }
        return warmup;
    }

    static PreparedStatement insert(Connection conn, String table) throws SQLException {
        return conn.prepareStatement(
            "INSERT INTO " + table + " (id, note) VALUES (?, ?) RETURNING inet_server_port()");
    }

    static int insertPort(PreparedStatement insert, int id, String note) throws SQLException {
        insert.setInt(1, id);
        insert.setString(2, note);
        try (ResultSet rs = insert.executeQuery()) {
            check(rs.next(), "insert " + id + " returned no row");
            return rs.getInt(1);
        }
    }

    static void workload(Connection conn, Map<String, String> opts, StringBuilder out) throws Exception {
        String table = opts.get("table");
        int primary = Integer.parseInt(opts.get("primary-port"));
        createTable(conn, table);
        if ("transaction".equals(opts.getOrDefault("part", "autocommit"))) {
            transactions(conn, table, primary, out);
        } else {
            autocommit(conn, table, primary, Integer.parseInt(opts.getOrDefault("reads", "60")), out);
        }
    }

    /** Autocommit: writes, a volatile function, balanced reads, named reads. */
    static void autocommit(Connection conn, String table, int primary, int reads, StringBuilder out) throws Exception {
        // The same INSERT ten times, unnamed at first, a server-prepared (named) statement from
        // the fifth run on (pgjdbc's default prepareThreshold).
        List<Integer> writePorts = new ArrayList<>();
        PreparedStatement insert = insert(conn, table);
        for (int i = 0; i < 10; i++) {
            writePorts.add(insertPort(insert, i, "autocommit " + i));
        }
        out.append(", \"insert_server_prepared\": ").append(insert.unwrap(PGStatement.class).isUseServerPrepare());

        // pg_is_in_recovery() is volatile: a SELECT calling it is not balanced.
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
            check(rs.next(), "pg_is_in_recovery() returned no row");
            out.append(", \"volatile_read_in_recovery\": ").append(rs.getBoolean(1));
        }

        PreparedStatement balanced = balancedRead(conn);
        out.append(", \"warmup_reads_on_primary\": ").append(warmUp(balanced, primary));
        List<Integer> balancedPorts = new ArrayList<>();
        for (int i = 0; i < reads; i++) {
            balancedPorts.add(readPort(balanced, i));
        }
        out.append(", \"balanced_server_prepared\": ").append(balanced.unwrap(PGStatement.class).isUseServerPrepare());

        PreparedStatement named = namedRead(conn);
        List<Integer> namedPorts = new ArrayList<>();
        for (int i = 0; i < reads; i++) {
            namedPorts.add(readPort(named, i));
        }
        out.append(", \"named_server_prepared\": ").append(named.unwrap(PGStatement.class).isUseServerPrepare());
        insert.close();
        balanced.close();
        named.close();

        out.append(", \"write_ports\": ").append(json(writePorts));
        out.append(", \"balanced_ports\": ").append(json(balancedPorts));
        out.append(", \"named_ports\": ").append(json(namedPorts));
    }

    /** The driver's view of the transaction after a statement (pgjdbc takes it from the
     * ReadyForQuery SwiftPool relays), and any warning the statement got. */
    static void observe(Connection conn, Statement st, List<String> states, List<String> warnings) throws SQLException {
        states.add(conn.unwrap(BaseConnection.class).getTransactionState().name());
        for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
            warnings.add(w.getMessage());
        }
        st.clearWarnings();
    }

    /** setAutoCommit(false): pgjdbc sends BEGIN in the same extended batch (one Sync) as the
     * transaction's first statement. A transaction that reads, writes, reads its own write and
     * commits; one that writes and rolls back; then a write in autocommit again. */
    static void transactions(Connection conn, String table, int primary, StringBuilder out) throws Exception {
        PreparedStatement insert = insert(conn, table);
        PreparedStatement balanced = balancedRead(conn);
        PreparedStatement named = namedRead(conn);
        out.append(", \"warmup_reads_on_primary\": ").append(warmUp(balanced, primary));
        List<String> states = new ArrayList<>();
        List<String> warnings = new ArrayList<>();

        conn.setAutoCommit(false);
        List<Integer> beforeWrite = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            beforeWrite.add(readPort(balanced, 1000 + i));
            observe(conn, balanced, states, warnings);
        }
        int writePort = insertPort(insert, 100, "committed");
        observe(conn, insert, states, warnings);
        List<Integer> afterWrite = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            afterWrite.add(readPort(balanced, 2000 + i));
            observe(conn, balanced, states, warnings);
            afterWrite.add(readPort(named, 3000 + i));
            observe(conn, named, states, warnings);
        }
        try (PreparedStatement count = conn.prepareStatement(
                "SELECT count(*)::int, inet_server_port() FROM " + table + " WHERE id = ?")) {
            count.setInt(1, 100);
            // A read that fails where the transaction's table or row is missing is reported, and
            // the run goes on so that the caller sees where everything else ran.
            try (ResultSet rs = count.executeQuery()) {
                check(rs.next(), "count returned no row");
                out.append(", \"own_rows_seen\": ").append(rs.getInt(1));
                afterWrite.add(rs.getInt(2));
            } catch (SQLException e) {
                errors.add("count in the transaction: " + e.getMessage().replace('\n', ' ')
                           + " (SQLSTATE " + e.getSQLState() + ")");
                out.append(", \"own_rows_seen\": null");
            }
            observe(conn, count, states, warnings);
        }
        conn.commit();

        // A transaction that writes and rolls back.
        List<Integer> rollbackPorts = new ArrayList<>();
        rollbackPorts.add(readPort(balanced, 4000));
        observe(conn, balanced, states, warnings);
        rollbackPorts.add(insertPort(insert, 200, "rolled back"));
        observe(conn, insert, states, warnings);
        rollbackPorts.add(readPort(balanced, 4001));
        observe(conn, balanced, states, warnings);
        rollbackPorts.add(readPort(named, 4002));
        observe(conn, named, states, warnings);
        conn.rollback();
        out.append(", \"state_after_rollback\": ")
           .append(json(conn.unwrap(BaseConnection.class).getTransactionState().name()));

        // Autocommit again: this write commits on its own.
        conn.setAutoCommit(true);
        int autocommitPort = insertPort(insert, 300, "autocommit after the transactions");
        insert.close();
        balanced.close();
        named.close();

        out.append(", \"tx_read_before_write_ports\": ").append(json(beforeWrite));
        out.append(", \"tx_write_port\": ").append(writePort);
        out.append(", \"tx_read_after_write_ports\": ").append(json(afterWrite));
        out.append(", \"rollback_tx_ports\": ").append(json(rollbackPorts));
        out.append(", \"autocommit_write_port\": ").append(autocommitPort);
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < states.size(); i++) {
            b.append(i > 0 ? ", " : "").append(json(states.get(i)));
        }
        out.append(", \"tx_states\": ").append(b.append("]"));
        b = new StringBuilder("[");
        for (int i = 0; i < warnings.size() && i < 20; i++) {
            b.append(i > 0 ? ", " : "").append(json(warnings.get(i)));
        }
        out.append(", \"warnings\": ").append(b.append("]"));
    }
}
