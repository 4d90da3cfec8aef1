//! What a run measured, epoch by epoch: the test (and training-set) metrics, the training loss,
//! the time, and their CSV form.

use serde::{Deserialize, Serialize};

/// Metrics of a data set (the test set, or the training set): the loss and any named parts of it (e.g. a VAE's reconstruction and KL).
///
/// Stored in `metrics.json` and checkpoints as plain JSON, parts in order:
///
/// ```
/// use ae_toolkit::train::Metrics;
/// let e = Metrics { loss: 30.5, parts: vec![("reconstruction".into(), 25.0), ("kl".into(), 5.5)] };
/// let json = serde_json::to_string(&e).unwrap();
/// assert_eq!(json, r#"{"loss":30.5,"parts":[["reconstruction",25.0],["kl",5.5]]}"#);
/// assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), e);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The objective, averaged over the test images.
    pub loss: f64,
    /// Named parts, each averaged over the test images.
    pub parts: Vec<(String, f64)>,
}

impl Metrics {
    /// Metrics with a loss and no parts.
    ///
    /// ```
    /// use ae_toolkit::train::Metrics;
    /// assert_eq!(Metrics::loss_only(0.25), Metrics { loss: 0.25, parts: vec![] });
    /// ```
    pub fn loss_only(loss: f64) -> Self {
        Metrics {
            loss,
            parts: Vec::new(),
        }
    }
}

/// What one epoch measured.
///
/// Records written before `train_eval` existed still load (it defaults to `None`):
///
/// ```
/// use ae_toolkit::train::{EpochRecord, Metrics};
/// let old = r#"{"epoch":1,"train_loss":0.5,"test":{"loss":0.4,"parts":[]},"seconds":2.0,"samples_per_sec":1000.0}"#;
/// let r: EpochRecord = serde_json::from_str(old).unwrap();
/// assert_eq!(r, EpochRecord { epoch: 1, train_loss: Some(0.5), test: Metrics::loss_only(0.4), seconds: 2.0, samples_per_sec: 1000.0, train_eval: None });
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch; 0 is the untrained model.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size); `None` at epoch 0.
    pub train_loss: Option<f64>,
    /// Test metrics after the epoch.
    pub test: Metrics,
    /// The same metrics on the training set, when [`TrainConfig::evaluate_train_set`] is on.
    #[serde(default)]
    pub train_eval: Option<Metrics>,
    /// Seconds spent training in this epoch (evaluation excluded).
    pub seconds: f64,
    /// Training images per second.
    pub samples_per_sec: f64,
}

/// The whole run so far, epoch 0 (untrained) first.
///
/// ```
/// use ae_toolkit::train::{EpochRecord, Metrics, History};
/// let untrained = EpochRecord { epoch: 0, train_loss: None, test: Metrics::loss_only(543.0), seconds: 0.0, samples_per_sec: 0.0, train_eval: None };
/// let h = History { epochs: vec![untrained] };
/// assert_eq!(h.last().epoch, 0);
/// assert_eq!(h.last().train_loss, None); // nothing trained yet
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The test loss of the untrained model.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Metrics, History};
    /// fn record(epoch: usize, train_loss: Option<f64>, test: f64, seconds: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss, test: Metrics::loss_only(test), seconds, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History { epochs: vec![record(0, None, 543.0, 0.0), record(1, Some(150.0), 120.0, 3.0)] };
    /// assert_eq!(h.untrained_test_loss(), 543.0);
    /// ```
    pub fn untrained_test_loss(&self) -> f64 {
        self.epochs[0].test.loss
    }
    /// The last epoch's record.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Metrics, History};
    /// fn record(epoch: usize, train_loss: Option<f64>, test: f64, seconds: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss, test: Metrics::loss_only(test), seconds, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History { epochs: vec![record(0, None, 543.0, 0.0), record(1, Some(150.0), 120.0, 3.0)] };
    /// assert_eq!((h.last().epoch, h.last().test.loss), (1, 120.0));
    /// ```
    pub fn last(&self) -> &EpochRecord {
        self.epochs.last().expect("history has epoch 0")
    }
    /// The test loss after every epoch, the untrained model's first, to `decimals` places and
    /// separated by spaces: the learning curve the tests print.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Metrics, History};
    /// fn record(epoch: usize, test: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss: None, test: Metrics::loss_only(test), seconds: 0.0, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History { epochs: vec![record(0, 543.0), record(1, 120.04), record(2, 105.06)] };
    /// assert_eq!(h.test_loss_curve(1), "543.0 120.0 105.1");
    /// ```
    pub fn test_loss_curve(&self, decimals: usize) -> String {
        let losses: Vec<String> = self
            .epochs
            .iter()
            .map(|e| format!("{:.decimals$}", e.test.loss))
            .collect();
        losses.join(" ")
    }

    /// Total training seconds.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Metrics, History};
    /// fn record(epoch: usize, train_loss: Option<f64>, test: f64, seconds: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss, test: Metrics::loss_only(test), seconds, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History {
    ///     epochs: vec![record(0, None, 543.0, 0.0), record(1, Some(150.0), 120.0, 3.0), record(2, Some(110.0), 105.0, 2.5)],
    /// };
    /// assert_eq!(h.training_seconds(), 5.5);
    /// ```
    pub fn training_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum()
    }

    /// The metrics as CSV: one row per epoch, one column per part.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Metrics, History};
    /// let eval = |loss: f64, kl: f64| Metrics { loss, parts: vec![("kl".into(), kl)] };
    /// let h = History {
    ///     epochs: vec![
    ///         EpochRecord { epoch: 0, train_loss: None, test: eval(3.0, 0.0), seconds: 0.0, samples_per_sec: 0.0, train_eval: None },
    ///         EpochRecord { epoch: 1, train_loss: Some(2.5), test: eval(2.0, 0.5), seconds: 1.25, samples_per_sec: 1600.0, train_eval: None },
    ///     ],
    /// };
    /// assert_eq!(
    ///     h.to_csv(),
    ///     "epoch,train_loss,test_loss,test_kl,train_set_loss,seconds,samples_per_sec\n\
    ///      0,,3,0,,0.000,0.0\n\
    ///      1,2.5,2,0.5,,1.250,1600.0\n"
    /// );
    /// ```
    pub fn to_csv(&self) -> String {
        let parts: Vec<&str> = self.epochs[0]
            .test
            .parts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        let mut s = String::from("epoch,train_loss,test_loss");
        for p in &parts {
            s.push_str(&format!(",test_{p}"));
        }
        s.push_str(",train_set_loss,seconds,samples_per_sec\n");
        for e in &self.epochs {
            let train = e.train_loss.map(|v| v.to_string()).unwrap_or_default();
            s.push_str(&format!("{},{train},{}", e.epoch, e.test.loss));
            for (_, v) in &e.test.parts {
                s.push_str(&format!(",{v}"));
            }
            let train_set = e.train_eval.as_ref().map(|t| t.loss.to_string());
            s.push_str(&format!(",{}", train_set.unwrap_or_default()));
            s.push_str(&format!(",{:.3},{:.1}\n", e.seconds, e.samples_per_sec));
        }
        s
    }
}
