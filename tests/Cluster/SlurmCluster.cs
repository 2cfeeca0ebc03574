using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Eval.Tests.Cluster;

/// <summary>
/// A one-node Slurm cluster of our own, as root without systemd: munged as the munge user (its key and socket in a
/// 0755 folder of the work directory), slurmctld -D and slurmd -D -N host on free ports, from a generated slurm.conf.
/// Every Slurm command goes through Environment (SLURM_CONF), so nothing touches another cluster on the machine.
/// Dispose cancels the jobs, waits for an empty queue and stops the daemons by the PIDs started here; leftovers
/// (slurmstepd ignores SIGTERM, job processes) are found in /proc by our SLURM_CONF in their environment, never by name.
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    private static readonly string[] Programs = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "setpriv"];

    private readonly List<Process> daemons = [];


    private SlurmCluster(string folder)
    {
        Folder = folder;
        ConfigPath = Path.Combine(folder, "slurm.conf");
    }

    public string Folder { get; }
    public string ConfigPath { get; }
    public string Host { get; } = System.Net.Dns.GetHostName();

    /// <summary>Why this machine cannot run a cluster (Slurm or munge missing, not root), or null when it can.</summary>
    public static string? Unavailable()
    {
        var missing = Programs.Where(p => Which(p) is null).ToList();
        if (missing.Count > 0) return $"Slurm is not installed ({string.Join(", ", missing)} missing; .ci/run installs slurm-wlm slurmctld slurmd slurm-client munge)";
        if (System.Environment.UserName != "root") return "the Slurm test starts its own daemons and needs root";
        return null;
    }

    /// <summary>
    /// Starts a cluster in a short folder of its own under /tmp (deleted with it): munged's and slurmd's unix sockets live
    /// there, and a socket path must fit a sockaddr_un (108 bytes), which a test run's temp folder need not.
    /// </summary>
    public static SlurmCluster Start()
    {
        var cluster = new SlurmCluster(Path.Combine("/tmp", "mlm-slurm-" + Guid.NewGuid().ToString("N")[..12]));
        try
        {
            cluster.StartDaemons();
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>The environment a Slurm client (and a job it submits) needs for this cluster.</summary>
    public Dictionary<string, string> Environment() => new() { ["SLURM_CONF"] = ConfigPath };

    /// <summary>Runs a Slurm client command against this cluster and returns its stdout; a failure names the command and its stderr.</summary>
    public string Run(string program, params string[] args)
    {
        var (code, stdout, stderr) = Execute(program, args, Environment(), Folder);
        if (code != 0) throw new InvalidOperationException($"{program} {string.Join(" ", args)} exited with {code}: {stderr}");
        return stdout;
    }

    /// <summary>Polls squeue until none of the jobs is queued or running (not `sbatch --wait`: it returns 0 for a merge cancelled by a failed dependency).</summary>
    public void WaitForJobs(IEnumerable<string> jobs, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        var list = string.Join(",", jobs);
        while (Run("squeue", "-h", "-j", list, "-o", "%i").Trim().Length > 0)
        {
            if (clock.Elapsed > limit) Assert.Fail($"jobs {list} still queued after {limit.TotalSeconds:0} s:\n{Run("squeue", "-a")}\n{Logs()}");
            Thread.Sleep(250);
        }
    }

    /// <summary>A job's state as slurmctld still holds it (JobState=..., Reason=...).</summary>
    public string JobState(string job) => Run("scontrol", "show", "job", job);

    public string Logs() => string.Join("\n", Directory.GetFiles(Path.Combine(Folder, "log")).Select(f => $"--- {f}\n{Tail(f)}"));

    private static string Tail(string file)
    {
        var lines = File.ReadAllLines(file);
        return string.Join("\n", lines.Skip(Math.Max(0, lines.Length - 30)));
    }

    private void StartDaemons()
    {
        var munge = Path.Combine(Folder, "munge");
        string[] folders = [Folder, munge, Path.Combine(Folder, "state"), Path.Combine(Folder, "spool"), Path.Combine(Folder, "log")];
        foreach (var dir in folders) Directory.CreateDirectory(dir);
        Execute("chmod", ["0755", .. folders], null, Folder);
        var key = Path.Combine(munge, "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        Execute("chmod", ["0600", key], null, Folder);
        Execute("chown", ["-R", "munge:munge", munge], null, Folder);
        var socket = Path.Combine(munge, "munge.socket");
        daemons.Add(Daemon("munged", "setpriv", ["--reuid=munge", "--regid=munge", "--init-groups", "munged", "--foreground", $"--socket={socket}",
            $"--key-file={key}", $"--pid-file={Path.Combine(munge, "munged.pid")}", $"--log-file={Path.Combine(munge, "munged.log")}",
            $"--seed-file={Path.Combine(munge, "munged.seed")}"]));
        WaitFor(() => File.Exists(socket), TimeSpan.FromSeconds(20), "munged's socket");

        // The node's topology as slurmd sees it (its first line: NodeName=... CPUs=... RealMemory=...).
        var topology = Execute("slurmd", ["-C"], null, Folder).Stdout.Split('\n')[0].Trim();
        topology = string.Join(' ', topology.Split(' ').Where(f => !f.StartsWith("NodeName=", StringComparison.Ordinal)).Prepend($"NodeName={Host}"));
        var (controllerPort, nodePort) = (FreePort(), FreePort());
        var config = new StringBuilder()
            .AppendLine($"ClusterName=ci{controllerPort}")
            .AppendLine($"SlurmctldHost={Host}")
            .AppendLine("SlurmUser=root").AppendLine("SlurmdUser=root")
            .AppendLine("AuthType=auth/munge").AppendLine("CredType=cred/munge").AppendLine($"AuthInfo=socket={socket}")
            .AppendLine($"SlurmctldPort={controllerPort}").AppendLine($"SlurmdPort={nodePort}")
            .AppendLine($"StateSaveLocation={Path.Combine(Folder, "state")}").AppendLine($"SlurmdSpoolDir={Path.Combine(Folder, "spool")}")
            .AppendLine($"SlurmctldPidFile={Path.Combine(Folder, "slurmctld.pid")}").AppendLine($"SlurmdPidFile={Path.Combine(Folder, "slurmd.pid")}")
            .AppendLine($"SlurmctldLogFile={Path.Combine(Folder, "log", "slurmctld.log")}").AppendLine($"SlurmdLogFile={Path.Combine(Folder, "log", "slurmd.log")}")
            .AppendLine("ProctrackType=proctrack/linuxproc").AppendLine("TaskPlugin=task/none")
            .AppendLine("SelectType=select/cons_tres").AppendLine("SelectTypeParameters=CR_CPU")
            .AppendLine("AccountingStorageType=accounting_storage/none")
            .AppendLine("JobCompType=jobcomp/filetxt").AppendLine($"JobCompLoc={Path.Combine(Folder, "log", "jobcomp.txt")}")
            .AppendLine("DependencyParameters=kill_invalid_depend")
            .AppendLine("MpiDefault=none").AppendLine("MailProg=/bin/true").AppendLine("ReturnToService=2")
            .AppendLine($"{topology} State=UNKNOWN")
            .AppendLine($"PartitionName=ci Nodes={Host} Default=YES MaxTime=INFINITE State=UP");
        File.WriteAllText(ConfigPath, config.ToString());

        daemons.Add(Daemon("slurmctld", "slurmctld", ["-D"]));
        daemons.Add(Daemon("slurmd", "slurmd", ["-D", "-N", Host]));
        WaitFor(() => Execute("sinfo", ["-h", "-N", "-o", "%t"], Environment(), Folder).Stdout.Trim() == "idle", TimeSpan.FromSeconds(60), "the node to be idle");
    }

    /// <summary>Starts a daemon in the foreground with its output in log/NAME.out; exec keeps the PID the one started.</summary>
    private Process Daemon(string name, string program, string[] args)
    {
        var info = new ProcessStartInfo("bash") { UseShellExecute = false, WorkingDirectory = Folder };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"exec \"$0\" \"$@\" > '{Path.Combine(Folder, "log", name + ".out")}' 2>&1");
        info.ArgumentList.Add(program);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["SLURM_CONF"] = ConfigPath;
        return Process.Start(info)!;
    }

    private void WaitFor(Func<bool> condition, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (daemons.FirstOrDefault(d => d.HasExited) is { } dead)
                throw new InvalidOperationException($"a Slurm daemon (PID {dead.Id}) exited with {dead.ExitCode} while waiting for {what}:\n{Logs()}");
            if (clock.Elapsed > limit) throw new TimeoutException($"no {what} after {limit.TotalSeconds:0} s:\n{Logs()}");
            Thread.Sleep(200);
        }
    }

    public void Dispose()
    {
        if (File.Exists(ConfigPath) && daemons.Count == 3 && daemons.All(d => !d.HasExited))
        {
            try
            {
                Execute("scancel", ["--user", "root"], Environment(), Folder);
                var clock = Stopwatch.StartNew();
                while (Execute("squeue", ["-h", "-o", "%i"], Environment(), Folder).Stdout.Trim().Length > 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
                    Thread.Sleep(250);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // The daemons go below whatever the queue says.
            }
        }
        // slurmd, then slurmctld, then munged: the reverse of their start.
        foreach (var daemon in Enumerable.Reverse(daemons)) Stop(daemon.Id);
        // What the cluster left behind (slurmstepd ignores SIGTERM; job steps): every process with our SLURM_CONF.
        foreach (var pid in ProcessesWithOurConfig()) Stop(pid);
        foreach (var d in daemons) d.Dispose();
        daemons.Clear();
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }

    private IEnumerable<int> ProcessesWithOurConfig()
    {
        var marker = Encoding.UTF8.GetBytes($"SLURM_CONF={ConfigPath}\0");
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == System.Environment.ProcessId) continue;
            byte[] environ;
            try
            {
                environ = File.ReadAllBytes(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (environ.AsSpan().IndexOf(marker) >= 0) yield return pid;
        }
    }

    /// <summary>SIGTERM, up to 5 s to exit, then SIGKILL.</summary>
    private static void Stop(int pid)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return; // already gone
        }
        using (process)
        {
            if (process.HasExited) return;
            Execute("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], null, "/");
            if (!process.WaitForExit(5000))
            {
                process.Kill();
                process.WaitForExit(5000);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? Which(string program) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/sbin")
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    public static (int Code, string Stdout, string Stderr) Execute(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, string workingDirectory)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(true);
            throw new TimeoutException($"{program} {string.Join(" ", info.ArgumentList)} did not finish in 60 s");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
