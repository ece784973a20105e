"""Log replay: read loghub-format files, mine templates as the monitor does, detect and score.

``formats`` (the header table), ``reader`` (streaming, malformed lines counted), ``parsing``
(drain3 mining and grouping/parsing accuracy), ``labels`` (per-session labels such as HDFS's),
``windows`` and ``detectors`` (template-count windows, IsolationForest/LOF/OCSVM/PCA), ``deeplog``
(next-template LSTM, torch), ``detect`` (splitting, running and scoring them: ``detect_files`` is
what ``opstwin logs detect`` calls), ``report``, and ``export`` (the twin's own lines written in
these formats with ground-truth labels). Input they cannot use raises ``reader.LogInputError``
with a one-line message.
"""
